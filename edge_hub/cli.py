"""The ``edge-hub`` command: a thin layer over the library; errors become one clear sentence.

Long: one click command per technician's task, each a few lines over the library; splitting
the command groups would scatter ``edge-hub --help``'s one table of contents.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import click

from edge_hub import __version__
from edge_hub.errors import OtklikError

_LOGGER = logging.getLogger("edge_hub")

_settings_options = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file"),
    click.option("--site", help="Site (office) id used in topics, e.g. office-1"),
    click.option("--mqtt-url", help="External broker mqtt://HOST:PORT (default: embedded broker)"),
    click.option("--mqtt-username", help="Username at an external broker"),
    click.option("--mqtt-password", help="Password at an external broker"),
    click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="SQLite database file"),
    click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Data folder"),
    click.option("--listen", help="HOST:PORT of the web page and API"),
    click.option("--batch-size", type=int, help="Commit every N messages ..."),
    click.option("--batch-ms", type=int, help="... or every T ms, whichever first"),
    click.option("--broker", type=click.Choice(["auto", "mosquitto", "amqtt"]), help="Embedded broker kind"),
    click.option("--broker-port", type=int, help="Embedded broker port (0 = a free one)"),
    click.option(
        "--broker-tls-port",
        type=int,
        help="Embedded broker: a TLS listener too (8883; 0 = a free one), CA in DATA_DIR/broker",
    ),
    click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"])),
]


def settings_options(func):
    for option in reversed(_settings_options):
        func = option(func)
    return func


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _load(options: dict):
    from edge_hub.config import load_settings

    settings = load_settings(**options)
    _setup_logging(settings.log_level)
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-hub")
def cli() -> None:
    """Otklik edge hub: MQTT ingest into SQLite, the office page and API.

    Хаб «Отклик»: приём оценок по MQTT в SQLite, страница офиса и API.
    """


@cli.command()
@settings_options
def run(**options) -> None:
    """Run the hub: broker (embedded unless --mqtt-url), ingest, web page and API."""
    from edge_hub.app import Hub

    settings = _load(options)
    hub = Hub(settings)
    hub.start()
    host, port = settings.listen_host_port
    click.echo(f"Otklik hub for site {settings.site}: http://{host}:{port}/  (API docs: /docs)", err=True)
    hub.serve()


@cli.command()
@settings_options
@click.option("--devices", "n_devices", default=4, show_default=True, help="Simulated button consoles")
@click.option("--rate", default=6.0, show_default=True, help="Presses per minute per console")
@click.option(
    "--camera/--no-camera",
    default=True,
    show_default=True,
    help="Also run the emotion monitor on its synthetic clip of real faces",
)
@click.option("--kiosks", "n_kiosks", default=1, show_default=True, help="Touch kiosks (kiosk-01 ..)")
@click.option(
    "--survey-terminals", "n_surveys", default=1, show_default=True,
    help="Button-survey terminals with an OLED (survey-01 ..)",
)  # fmt: skip
@click.option("--visit-rate", default=4.0, show_default=True, help="Visitors per minute per terminal at most")
@click.option(
    "--web-kiosks", "n_web", default=1, show_default=True,
    help="Web kiosks (tablet-01 ..): their links are printed, a new token each start",
)  # fmt: skip
def demo(n_devices: int, rate: float, camera: bool, n_kiosks: int, n_surveys: int, visit_rate: float,
         n_web: int, **options) -> None:  # fmt: skip
    """Run a whole office on this machine: broker, hub, simulated consoles, survey terminals
    and the page.

    Весь офис на одной машине: брокер, хаб, имитация пультов и терминалов-анкет и страница.
    """
    import threading

    from edge_hub.app import Hub
    from edge_hub.tools.simulate import CameraProcess, Simulation, camera_available
    from edge_hub.transport.broker import HUB_USER

    options["data_dir"] = options.get("data_dir") or Path("otklik-demo")
    options["mqtt_url"] = None
    settings = _load(options)
    hub = Hub(settings)
    simulation = None
    try:
        hub.start()
        consoles = [f"btn-{i:02d}" for i in range(1, n_devices + 1)]
        _demo_office(settings.db_path, settings.site, settings.data_dir / "consoles", consoles)
        broker = hub.broker
        assert broker is not None
        credentials = {}
        for device in consoles:
            credentials[device] = broker.add_device(device) if broker.lossless else None
        terminals, terminals_note = _demo_terminals(hub, n_kiosks, n_surveys, visit_rate)
        simulation = Simulation(
            settings.data_dir / "consoles",
            broker.host,
            broker.port,
            settings.site,
            credentials,
            rate_per_min=rate,
            hub_login=(HUB_USER, broker.hub_password) if broker.lossless else None,
            hub_port=broker.hub_port,
            terminals=terminals,
        )
        threading.Thread(target=simulation.run, name="simulation", daemon=True).start()
        hub.before_stop.append(simulation.stop)
        camera_note = ""
        missing = camera_available() if camera else "--no-camera"
        if missing is None:
            password = broker.add_device("cam-01") if broker.lossless else None
            monitor = CameraProcess(settings.data_dir / "camera", broker.host, broker.port, settings.site,
                                    password=password)  # fmt: skip
            monitor.start()
            hub.before_stop.append(monitor.stop)
            camera_note = " and an emotion monitor (cam-01) on a synthetic clip of real faces"
        elif camera:
            click.echo(f"no emotion monitor in this demo: {missing} / монитор эмоций не запущен", err=True)
        host, port = settings.listen_host_port
        click.echo(
            f"\nOtklik demo: {n_devices} button consoles running the real firmware on "
            f"{simulation.interpreter}, "
            f"{rate:g} presses/min each{terminals_note}{camera_note}, {broker.kind} broker on port "
            f"{broker.port}.\n"
            f"Откройте / open  http://{host}:{port}/   (API: http://{host}:{port}/docs)\n"
            f"{_demo_web_kiosks(settings.db_path, settings.data_dir, host, port, n_web)}"
            f"{_demo_login(settings.db_path, settings.data_dir)}"
            "Ctrl-C stops / остановка.\n",
            err=True,
        )
    except KeyboardInterrupt:  # Ctrl-C before the page is up: stop what started, in order
        hub.stop()
    else:
        try:
            hub.serve()  # stops the simulation first (its figures below), then the hub
        except KeyboardInterrupt:  # a Ctrl-C before the page took the signal over
            if hub.before_stop:  # still there: serve() did not get to stop anything
                hub.stop()
    # Everything is stopped: a Ctrl-C from now on (a second one, or the one uvicorn re-raises
    # after its own shutdown landing late) has nothing left to stop and must not turn a clean
    # stop into a death by SIGINT (seen once under load in test_demo: exit -2 after the figures).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if simulation is not None and simulation.tally is not None:
        click.echo(f"\n{simulation.tally.summary()}", err=True)
    # ... and nothing is left for the interpreter's shutdown to do: it is skipped, because a
    # KeyboardInterrupt surfacing there (the stop's own Ctrl-C, delivered late under load) makes
    # Python end the process by SIGINT (exit -2, seen twice in test_demo after the figures).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _demo_terminals(hub, n_kiosks: int, n_surveys: int, visit_rate: float):
    """The demo's touch kiosks and button-survey terminals (MicroPython only) with the demo's
    survey (set where the office has none) and their first configs sent as soon as the hub knows
    them; (Terminals or None, a phrase for the banner)."""
    from edge_hub.tools import demo as demo_office
    from edge_hub.tools import simulate_kiosk as kiosks

    settings, broker = hub.settings, hub.broker
    displays = {d: "ili9341" for d in kiosks.terminal_ids("ili9341", n_kiosks)}
    displays |= {d: "ssd1306" for d in kiosks.terminal_ids("ssd1306", n_surveys)}
    if not displays:
        return None, ""
    missing = kiosks.unavailable()
    if missing:
        click.echo(f"no survey terminals in this demo: {missing} / терминалы-анкеты не запущены", err=True)
        return None, ""
    publish = hub.runtime.publish_config
    click.echo(kiosks.ensure_survey(settings.db_path, demo_office.survey(), publish, "the demo's"), err=True)
    scales, langs = kiosks.office_scales(settings.db_path)
    feeder = kiosks.ConfigFeeder(settings.db_path, list(displays), publish)
    feeder.start()
    hub.before_stop.append(feeder.stop)
    credentials = {d: (k, broker.add_device(d) if broker.lossless else None) for d, k in displays.items()}
    terminals = kiosks.Terminals(
        settings.data_dir / "consoles", broker.host, broker.port, settings.site, credentials,
        rate_per_min=visit_rate, scales=scales, expect_langs=langs,
    )  # fmt: skip
    names = [f"{n} touch kiosk{'s' if n > 1 else ''}" for n in (n_kiosks,) if n]
    names += [f"{n} button-survey terminal{'s' if n > 1 else ''}" for n in (n_surveys,) if n]
    return terminals, f", {' and '.join(names)} ({', '.join(displays)}) with visitors taking the survey"


def _demo_web_kiosks(db_path: Path, data_dir: Path, host: str, port: int, n: int) -> str:
    """The banner's lines of the demo's web kiosks (tablet-01 ..): each keeps its token across
    restarts (in ``demo-webkiosk.txt`` of the demo's folder, private like the admin's password), so
    a tab left open goes on working; a token the hub no longer knows is made again."""
    from edge_hub.db.store import Store
    from edge_hub.ingest import webkiosk

    if n <= 0:
        return ""
    # the tab must be a secure context for the page's service worker: localhost is one
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    kept_file = data_dir / "demo-webkiosk.txt"
    kept = dict(
        line.split(" ", 1)
        for line in (kept_file.read_text().splitlines() if kept_file.exists() else ())
        if " " in line
    )
    store = Store.writer(db_path)
    try:
        for device in (f"tablet-{i:02d}" for i in range(1, n + 1)):
            token = kept.get(device)
            if token is None or webkiosk.device_for(store.conn, token) != device:
                kept[device] = webkiosk.provision(store.conn, device)
    finally:
        store.close()
    kept_file.touch(mode=0o600)
    kept_file.chmod(0o600)
    kept_file.write_text("".join(f"{d} {t}\n" for d, t in sorted(kept.items())))
    head = "Веб-киоск (планшет) / web kiosk (a tablet): "
    return "".join(
        f"{head}{webkiosk.link(f'http://{host}:{port}', d, kept[d])}\n"
        for d in (f"tablet-{i:02d}" for i in range(1, n + 1))
    )


#: the demo's admin account, and the file (in the demo's data folder) that keeps its password
DEMO_ADMIN = "admin"
DEMO_LOGIN_FILE = "demo-login.txt"


def _demo_office(db_path: Path, site: str, consoles_dir: Path, consoles: list[str]) -> None:
    """On the first start of a demo folder, an office with a month of history: departments,
    windows, operators on shifts, served clients, and 30 days of presses fed through the real
    ingest path before the consoles start (a few seconds, with progress); every later start
    only tops up the coming days' shifts. See ``edge_hub/tools/demo.py``."""
    from edge_hub.tools import demo as demo_office

    def say(line: str) -> None:
        click.echo(line, err=True)

    report = demo_office.prepare(db_path, site, consoles_dir, consoles, progress=say)
    say(report.line())


def _demo_login(db_path: Path, data_dir: Path) -> str:
    """The banner's sign-in lines. On the first start of a demo folder (no account yet) the admin
    ``admin`` is made with a random password, kept in ``demo-login.txt`` (mode 600) so a later
    start prints it again. ``edge-hub run`` never does this: a real hub starts at /setup."""
    import secrets

    from edge_hub.api import auth
    from edge_hub.db.store import Store

    saved = data_dir / DEMO_LOGIN_FILE
    store = Store.writer(db_path)
    try:
        if auth.user_count(store.conn) == 0:
            password = secrets.token_urlsafe(12)
            user = auth.create_first_admin(store.conn, DEMO_ADMIN, password, password)
            auth.audit(store.conn, user, "setup", "edge-hub demo", ip="-")
            saved.touch(mode=0o600)
            saved.chmod(0o600)
            saved.write_text(f"{DEMO_ADMIN}\t{password}\n")
    finally:
        store.close()
    name, _, password = saved.read_text().strip().partition("\t") if saved.exists() else ("", "", "")
    if not password:
        return "Войдите своей учётной записью / sign in with your account.\n"
    return (
        "Вход / sign in:\n"
        f"  пользователь / user:  {name}\n"
        f"  пароль / password:    {password}\n"
        f"  (сохранено в / kept in {saved})\n"
    )


@cli.command()
@click.option("--mqtt-url", required=True, help="Broker of the hub, mqtt://HOST:PORT")
@click.option("--devices", "n_devices", default=4, show_default=True, help="Button consoles")
@click.option(
    "--duration", default=60.0, show_default=True, help="Seconds; an office day is compressed into it"
)
@click.option("--rate", default=6.0, show_default=True, help="Average presses per minute per console")
@click.option("--site", default="office-1", show_default=True)
@click.option(
    "--credentials",
    "credentials_file",
    type=click.Path(exists=True, dir_okay=False),
    help="File of 'DEVICE PASSWORD' lines (as printed by mosquitto-config / device add)",
)
@click.option(
    "--hub-data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The hub's data folder: give the devices credentials at its embedded broker (and the office a "
    "default survey for the terminals when it has none)",
)
@click.option(
    "--interpreter",
    type=click.Choice(["auto", "micropython", "cpython"]),
    default="auto",
    show_default=True,
    help="auto: the MicroPython Unix port where installed",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("otklik-sim"),
    show_default=True,
    help="Flash folders of the consoles",
)
@click.option("--kiosks", "n_kiosks", default=0, show_default=True, help="Touch kiosks (kiosk-01 ..)")
@click.option(
    "--survey-terminals", "n_surveys", default=0, show_default=True,
    help="Button-survey terminals with an OLED (survey-01 ..)",
)  # fmt: skip
@click.option(
    "--visit-rate", default=4.0, show_default=True,
    help="Visitors per minute per terminal at most (one at a time; shaped like the office day)",
)  # fmt: skip
def simulate(mqtt_url: str, n_devices: int, duration: float, rate: float, site: str,
             credentials_file: str | None, hub_data_dir: Path | None, interpreter: str,
             workdir: Path, n_kiosks: int, n_surveys: int, visit_rate: float) -> None:  # fmt: skip
    """Run N button consoles executing the real firmware, pressed like an office day, and
    touch kiosks and button-survey terminals whose visitors walk through the office's survey.

    Консоли и терминалы-анкеты с настоящей прошивкой: утренний пик, обеденный спад, в основном
    довольные посетители.
    """
    from edge_hub.tools import simulate_kiosk as kiosks
    from edge_hub.tools.simulate import Simulation
    from edge_hub.transport.broker import HUB_USER, BrokerFiles, set_password
    from edge_hub.transport.mqtt import BrokerAddress

    _setup_logging("INFO")
    address = BrokerAddress.from_url(mqtt_url)
    devices = [f"btn-{i:02d}" for i in range(1, n_devices + 1)]
    displays = {d: "ili9341" for d in kiosks.terminal_ids("ili9341", n_kiosks)}
    displays |= {d: "ssd1306" for d in kiosks.terminal_ids("ssd1306", n_surveys)}
    missing = kiosks.unavailable() if displays else None
    if missing:
        click.echo(
            f"warning: no kiosks nor survey terminals in this run: {missing}; they run only on the "
            "MicroPython Unix port / терминалы-анкеты не запущены",
            err=True,
        )
        displays = {}
    credentials: dict[str, str | None] = dict.fromkeys([*devices, *displays])
    # who counts the deliveries: the hub's login reads every ack of the site (on the hub's own
    # listener when the data folder names one); without it, the consoles' outboxes tell (see
    # edge_hub/tools/simulate.py, AckWatch)
    hub_login: tuple[str, str | None] | None = None
    hub_port: int | None = None
    if credentials_file:
        known = dict(
            line.split(None, 1) for line in Path(credentials_file).read_text().splitlines() if line.strip()
        )
        credentials = {d: known.get(d, "").strip() or None for d in [*devices, *displays]}
        if known.get(HUB_USER, "").strip():  # mosquitto-config prints the hub's line too
            hub_login = (HUB_USER, known[HUB_USER].strip())
    elif hub_data_dir:
        files = BrokerFiles((hub_data_dir / "broker").resolve())
        credentials = {d: set_password(files, d) for d in [*devices, *displays]}
        files.reload()
        if files.hub_secret.exists():  # an embedded Mosquitto (amqtt takes no logins)
            hub_login = (HUB_USER, files.hub_secret.read_text().strip())
            hub_port = _hub_listener_port(files)
    terminals = feeder = publisher = None
    if displays:
        db = hub_data_dir / "hub.db" if hub_data_dir else None
        port = hub_port if hub_login is not None and hub_port else address.port
        terminals, feeder, publisher = _simulated_terminals(
            workdir, address, site, {d: (displays[d], credentials[d]) for d in displays}, visit_rate,
            db if db is not None and db.exists() else None, (address.host, port, hub_login),
        )  # fmt: skip
    simulation = Simulation(
        workdir, address.host, address.port, site, {d: credentials[d] for d in devices},
        rate_per_min=rate, duration=duration, interpreter=interpreter, hub_login=hub_login,
        hub_port=hub_port, terminals=terminals,
    )  # fmt: skip
    click.echo(
        f"{n_devices} consoles on {simulation.interpreter}, {n_kiosks if displays else 0} touch kiosks and "
        f"{n_surveys if displays else 0} button-survey terminals for {duration:g} s at {rate:g} presses/min",
        err=True,
    )
    try:
        if feeder is not None:
            feeder.start()
        tally = simulation.run(lambda now: click.echo(now.progress_line(), err=True))
    finally:
        simulation.stop()
        if feeder is not None:
            feeder.stop()
        if publisher is not None:
            publisher.stop()
    click.echo(tally.summary())


def _simulated_terminals(workdir, address, site, credentials, visit_rate, db, publish_at):
    """The terminals of ``edge-hub simulate`` and their survey. With the hub's database (its data
    folder given), an office without a survey gets the default one, as a technician trying the
    terminals expects them to ask something sensible at once (it is the office's survey from then
    on: PUT /api/v1/survey changes it), and each terminal its first config as soon as the hub knows
    it; without it, the terminals run the survey the hub sends them."""
    from edge_hub.tools import simulate_kiosk as kiosks

    feeder = publisher = None
    scales: dict[str, str] = {}
    langs = None
    if db is not None:
        publisher = kiosks.ConfigPublisher(*publish_at[:2], site, publish_at[2])
        click.echo(kiosks.ensure_survey(db, kiosks.DEFAULT_SURVEY, publisher.publish), err=True)
        scales, langs = kiosks.office_scales(db)
        feeder = kiosks.ConfigFeeder(db, list(credentials), publisher.publish)
    else:
        click.echo(
            "the terminals show the survey the hub sends them (set with PUT /api/v1/survey); until it does, "
            "the firmware's one question (csat, in Russian). Give --hub-data-dir to set a default survey "
            "where the office has none / терминалы показывают опрос, заданный на хабе",
            err=True,
        )
    terminals = kiosks.Terminals(
        workdir, address.host, address.port, site, credentials, rate_per_min=visit_rate, scales=scales,
        expect_langs=langs,
    )  # fmt: skip
    return terminals, feeder, publisher


@cli.command("mosquitto-config")
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for mosquitto.conf, acl, passwd and the persistence data",
)
@click.option("--site", default="office-1", show_default=True)
@click.option("--port", default=1883, show_default=True)
@click.option(
    "--bind", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for the LAN)"
)
@click.option("--inflight", default=2000, show_default=True, help="max_inflight_messages (>= ingest batch)")
@click.option("--expiry-days", default=7, show_default=True, help="persistent_client_expiration")
@click.option(
    "--device",
    "devices",
    multiple=True,
    metavar="ID[=PASSWORD]",
    help="Give a device credentials (a password is generated when omitted); repeatable",
)
@click.option(
    "--hub-port",
    default=1884,
    show_default=True,
    help="The hub's own listener on 127.0.0.1 (devices' client ids are forced to their logins; the "
    "hub keeps its own there: point its --mqtt-url at it); 0 for none",
)
@click.option("--tls", is_flag=True, help="Add a TLS listener (certificate from the hub's own CA)")
@click.option("--tls-port", default=8883, show_default=True, help="Port of the TLS listener")
@click.option(
    "--tls-host",
    "tls_hosts",
    multiple=True,
    metavar="NAME_OR_IP",
    help="Another name or address devices use for the hub (the certificate names this machine's "
    "own already); repeatable",
)
def mosquitto_config(directory: Path, site: str, port: int, bind: str, inflight: int, expiry_days: int,
                     devices: tuple[str, ...], hub_port: int, tls: bool, tls_port: int,
                     tls_hosts: tuple[str, ...]) -> None:  # fmt: skip
    """Write a lossless mosquitto.conf with per-device credentials and ACL.

    Prints the credentials it set (the hub's and each device's) for provisioning. With --tls
    it also makes (once) the hub's CA and a server certificate for this machine's names and
    addresses, adds a TLS listener (TLS 1.2+) beside the plain one and prints the CA file to
    copy to each device ("broker_ca" in device.json).
    """
    import re

    from edge_hub.config import ID_PATTERN
    from edge_hub.transport.broker import write_mosquitto_config

    wanted: dict[str, str | None] = {}
    for item in devices:
        device, _, password = item.partition("=")
        if not re.match(ID_PATTERN, device):
            raise click.BadParameter(
                f"{device!r} is not a device id (a-z, 0-9, - and _)", param_hint="--device"
            )
        wanted[device] = password or None
    files, passwords = write_mosquitto_config(
        directory, site=site, port=port, bind=bind, inflight=inflight, expiry_days=expiry_days,
        devices=wanted, tls_port=tls_port if tls else None, tls_hosts=tls_hosts, hub_port=hub_port or None,
    )  # fmt: skip
    click.echo(f"wrote {files.conf}, {files.acl}, {files.passwd}")
    click.echo(f"run: mosquitto -c {files.conf}")
    if hub_port:
        click.echo(
            f"the hub connects to its own listener: edge-hub run --mqtt-url mqtt://127.0.0.1:{hub_port}"
        )
    if tls:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = ", ".join(str(getattr(n, "value", n)) for n in names)
        click.echo(f"TLS listener {bind}:{tls_port}, certificate for: {hosts}")
        click.echo(f"CA for the devices: {files.ca_der} (DER; PEM: {files.ca_cert})")
        click.echo(
            'copy it to each device (mpremote fs cp ... :ca.der), set "broker_ca": "ca.der" and '
            '"broker_port": ' + str(tls_port) + " in its device.json; its broker_host must be one of "
            "the names above (--tls-host adds one)"
        )
    for user, password in passwords.items():
        click.echo(f"{user}\t{password}")


@cli.group()
def device() -> None:
    """Device credentials at this hub's embedded broker. / Учётные данные устройств."""


@device.command("add")
@click.argument("device_id")
@click.option("--password", help="The device's password (generated when omitted)")
@click.option(
    "--kind", type=click.Choice(["mqtt", "webkiosk"]), default="mqtt", show_default=True,
    help="mqtt: broker credentials; webkiosk: a tablet's browser, given its own token in a provisioning link",
)  # fmt: skip
@click.option(
    "--url", "hub_url", help="webkiosk: the hub's address as the tablet reaches it (http(s)://HOST:PORT)"
)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="The hub's data folder")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file")
def device_add(device_id: str, password: str | None, kind: str, hub_url: str | None, data_dir: Path | None,
               config_file: str | None) -> None:  # fmt: skip
    """Give DEVICE_ID broker credentials (username = device id) and print them for provisioning.

    A running embedded broker picks them up at once. With --kind webkiosk: a web kiosk's token
    instead, printed once inside its provisioning link (with a QR code of it); only its hash is kept.
    """
    from edge_hub.config import ID_PATTERN
    from edge_hub.transport.broker import BrokerFiles, set_password

    if not re.match(ID_PATTERN, device_id):
        raise click.BadParameter(
            f"{device_id!r} is not a device id (a-z, 0-9, - and _)", param_hint="DEVICE_ID"
        )
    settings = _load({"config_file": config_file, "data_dir": data_dir})
    if kind == "webkiosk":
        _add_webkiosk(settings, device_id, hub_url)
        return
    files = BrokerFiles((settings.data_dir / "broker").resolve())
    password = set_password(files, device_id, password)
    reloaded = files.reload()
    click.echo(f"{device_id}\t{password}")
    click.echo(
        "the running broker reloaded its credentials" if reloaded else "used at the next start of the hub",
        err=True,
    )


def _add_webkiosk(settings, device_id: str, hub_url: str | None) -> None:
    """Provision a web kiosk: print its link (the token in the fragment) and a QR code of it."""
    import socket

    import segno

    from edge_hub.db.store import Store
    from edge_hub.ingest import webkiosk

    if hub_url is None:
        host, port = settings.listen_host_port
        if host in ("0.0.0.0", "::", ""):
            host = socket.getfqdn()
        hub_url = f"http://{host}:{port}"
    if not re.match(r"^https?://[^/#?\s]+/?$", hub_url):
        raise click.BadParameter(f"{hub_url!r} is not http(s)://HOST[:PORT]", param_hint="--url")
    store = Store.open(settings.db_path)
    try:
        token = webkiosk.provision(store.conn, device_id)
    finally:
        store.close()
    url = webkiosk.link(hub_url, device_id, token)
    click.echo(url)
    segno.make(url, error="m").terminal(out=sys.stderr, compact=True)
    click.echo(
        f"open it on the tablet or scan the code; it cannot be shown again (a new 'device add {device_id} "
        "--kind webkiosk' replaces it) / откройте ссылку на планшете или отсканируйте код; "
        "показать её ещё раз нельзя",
        err=True,
    )


@device.command("remove")
@click.argument("device_id")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="The hub's data folder")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file")
def device_remove(device_id: str, data_dir: Path | None, config_file: str | None) -> None:
    """Take DEVICE_ID's broker credentials away: it can no longer connect; its history stays.

    A running embedded broker reloads its credentials, and the device's connection and its
    stored session are ended (the hub takes its client id with a clean session). A web kiosk's
    token is deleted: its next request is refused.
    """
    from edge_hub.db.store import Store
    from edge_hub.ingest import webkiosk
    from edge_hub.transport.broker import HUB_USER, BrokerFiles, remove_password

    settings = _load({"config_file": config_file, "data_dir": data_dir})
    revoked = False
    if settings.db_path.exists():
        store = Store.open(settings.db_path)
        try:
            revoked = webkiosk.revoke(store.conn, device_id)
        finally:
            store.close()
    if revoked:
        click.echo(f"{device_id}: its web kiosk token is deleted: the tablet is refused from now on")
    files = BrokerFiles((settings.data_dir / "broker").resolve())
    if not remove_password(files, device_id):
        if revoked:
            return
        raise click.ClickException(
            f"{device_id!r} has no credentials at this hub / у устройства нет учётных данных на этом хабе"
        )
    reloaded = files.reload()
    if reloaded:
        _end_session(settings, files, HUB_USER, device_id)  # the broker forces client id = login
    click.echo(f"{device_id} removed: it can no longer connect; its history stays")
    click.echo(
        "the running broker reloaded its credentials and ended its session"
        if reloaded
        else "takes effect at the next start of the hub",
        err=True,
    )


def _end_session(settings, files, user: str, client_id: str) -> None:
    """Connect with the hub's login under ``client_id`` and a clean session: the broker drops
    the device's live connection and its stored session."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    port = _hub_listener_port(files)
    if port is None:
        return
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True,
                         protocol=paho.MQTTv311)  # fmt: skip
    client.username_pw_set(user, files.hub_password())
    try:
        client.connect("127.0.0.1", port, keepalive=10)
        client.loop_start()
        time.sleep(0.5)
        client.disconnect()
        client.loop_stop()
    except OSError:
        pass


def _hub_listener_port(files) -> int | None:
    """The port of the hub's own listener in the broker's config: the one where client ids are
    not forced to the login (only there can the hub's login end a device's session by its client
    id); None without one."""
    try:
        blocks = [b.splitlines() for b in ("\n" + files.conf.read_text()).split("\nlistener ")[1:]]
        for block in blocks:
            if "use_username_as_clientid true" not in (line.strip() for line in block):
                return int(block[0].split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None


_db_options = [
    click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file"),
    click.option("--db", type=click.Path(dir_okay=False, path_type=Path), help="SQLite database file"),
    click.option(
        "--data-dir", type=click.Path(file_okay=False, path_type=Path), help="The hub's data folder"
    ),
]


def db_options(func):
    for option in reversed(_db_options):
        func = option(func)
    return func


def _open_store(options: dict):
    """The hub's database, found by the same settings as ``edge-hub run`` (created when missing)."""
    from edge_hub.db.store import Store

    return Store.open(_load(options).db_path)


def _when(ms: int | None) -> str:
    from datetime import UTC, datetime

    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


@cli.group()
def token() -> None:
    """Access tokens of the central server's sync API. / Токены доступа к API синхронизации."""


@token.command("create")
@click.option(
    "--scope",
    default="sync:read",
    show_default=True,
    type=click.Choice(["sync:read", "api:read", "api:write"]),
    help="sync:read: the central server's pull; api:read / api:write: the JSON API",
)
@click.option("--name", help="Who uses it, e.g. central-msk")
@db_options
def token_create(scope: str, name: str | None, **options) -> None:
    """Create a token and print it once: only its hash is stored.

    Создать токен и показать его один раз: хранится только его хэш.
    """
    from edge_hub.sync import tokens as sync_tokens

    store = _open_store(options)
    try:
        secret = sync_tokens.create_token(store.conn, scope, name)
        info = sync_tokens.find_token(store.conn, secret)
    finally:
        store.close()
    assert info is not None
    click.echo(secret)
    click.echo(
        f"token {info.id} ({scope}{', ' + name if name else ''}): copy it now, it cannot be shown again.\n"
        f"токен {info.id}: скопируйте его сейчас, повторно он показан не будет.",
        err=True,
    )


@token.command("list")
@db_options
def token_list(**options) -> None:
    """List the tokens (never their secrets). / Список токенов (без секретов)."""
    from edge_hub.sync import tokens as sync_tokens

    store = _open_store(options)
    try:
        tokens = sync_tokens.list_tokens(store.conn)
    finally:
        store.close()
    if not tokens:
        click.echo("no tokens / токенов нет", err=True)
        return
    click.echo("ID\tSCOPE\tSTATE\tCREATED\tLAST USED\tNAME")
    for t in tokens:
        state = "revoked" if t.revoked else "active"
        click.echo(
            f"{t.id}\t{t.scope}\t{state}\t{_when(t.created_at)}\t{_when(t.last_used_at)}\t{t.name or ''}"
        )


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@db_options
def token_revoke(token_id: int, **options) -> None:
    """Revoke token ID at once and for good. / Отозвать токен ID навсегда."""
    from edge_hub.sync import tokens as sync_tokens

    store = _open_store(options)
    try:
        revoked = sync_tokens.revoke_token(store.conn, token_id)
    except sync_tokens.TokenNotFound as exc:
        raise click.BadParameter(str(exc), param_hint="ID") from None
    finally:
        store.close()
    click.echo(
        f"token {token_id} revoked / токен отозван"
        if revoked
        else f"token {token_id} was revoked already / токен уже был отозван"
    )


@cli.group()
def shifts() -> None:
    """Operators' shifts at the windows. / Смены операторов у окон."""


@shifts.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_options
def shifts_import(csv_file: Path, **options) -> None:
    """Import shifts from CSV (operator,window,start,end or оператор,окно,начало,конец), all or
    nothing; presses already stored in their span are credited to the operators.

    Загрузить смены из CSV (всё или ничего); уже сохранённые нажатия переносятся на операторов.
    Format / формат: edge_hub/SCOPES.md.
    """
    from edge_hub.office import recredit
    from edge_hub.office import settings as office_settings

    store = _open_store(options)
    try:
        zone = office_settings.load(store.conn).zone
        result = recredit.import_shifts_file(store.conn, csv_file.read_bytes(), zone)
    finally:
        store.close()
    if not result.ok:
        for error in result.errors:
            click.echo(f"{csv_file}:{error.line}: {error.message}", err=True)
        click.echo(
            f"nothing was imported: {len(result.errors)} problem(s) / ничего не загружено: "
            f"ошибок {len(result.errors)}",
            err=True,
        )
        sys.exit(1)
    click.echo(f"imported {result.added} shift(s) / загружено смен: {result.added}")


@cli.group("sync")
def sync_group() -> None:
    """Sync with the central server (see edge_hub/SYNC.md). / Синхронизация с центральным сервером."""


@sync_group.command("pull")
@click.option("--from", "url", required=True, help="The hub's address, e.g. http://hub-1:8080")
@click.option(
    "--token",
    required=True,
    envvar="OTK_SYNC_TOKEN",
    help="A sync:read token of that hub (or OTK_SYNC_TOKEN)",
)
@click.option(
    "--into",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The central SQLite file (created when missing)",
)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 5000), help="Buckets a page")
@click.option(
    "--from-start", is_flag=True, help="Pull everything again (harmless: only newer revisions count)"
)
def sync_pull(url: str, token: str, into: Path, limit: int, from_start: bool) -> None:
    """Reference central puller: fetch a hub's changed buckets into a SQLite file.

    Эталонный загрузчик центра: изменённые корзины хаба в файл SQLite. Прерванная загрузка
    продолжается с места остановки; повторная ничего не меняет.
    """
    from edge_hub.sync.pull import PageProgress, pull

    _setup_logging("WARNING")

    def progress(p: PageProgress) -> None:
        click.echo(
            f"page {p.number}: {p.items} buckets (new {p.new}, updated {p.updated}, unchanged {p.unchanged}),"
            f" cursor {p.cursor} of {p.high_water}",
            err=True,
        )

    stats = pull(url, token, into, limit, progress, from_start=from_start)
    click.echo(
        f"hub {stats.hub_id} (site {stats.site}): {stats.pages} pages, {stats.items} buckets: "
        f"{stats.new} new, {stats.updated} updated, {stats.unchanged} unchanged; cursor {stats.cursor}\n"
        f"новых {stats.new}, обновлено {stats.updated}, без изменений {stats.unchanged}"
    )


@cli.group()
def kiosk() -> None:
    """Feedback terminals' screens. / Экраны терминалов опроса."""


@kiosk.command("screens")
@click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A terminal's config message (JSON: the payload, or {topic, payload})",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for the PNGs"
)
@click.option("--build", type=click.Choice(["touch", "oled", "both"]), default="both", show_default=True)
@click.option("--lang", type=click.Choice(["ru", "en", "both"]), default="both", show_default=True)
def kiosk_screens(config_file: Path, out: Path, build: str, lang: str) -> None:
    """Draw every screen of the survey in CONFIG as PNGs, by the firmware on MicroPython's Unix port.

    Все экраны опроса из CONFIG в PNG, нарисованные прошивкой на MicroPython (Unix port).
    """
    from edge_hub.tools.kiosk_screens import BUILDS, LANGS, ScreensError, load_config, render

    try:
        config = load_config(config_file)
    except ScreensError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    builds = BUILDS if build == "both" else (build,)
    langs = LANGS if lang == "both" else (lang,)

    def progress(screen) -> None:
        click.echo(f"{screen.path}  ({screen.kind}, drawing took {screen.heap} B of heap)", err=True)

    try:
        screens = render(config, out, builds, langs, progress)
    except ScreensError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(screens)} screens in {out} / экранов: {len(screens)}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except OtklikError as exc:
        click.echo(f"edge-hub: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
