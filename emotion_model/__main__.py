"""``python -m emotion_model``: classify an image, run the monitor, rebuild the models.

Results go to stdout (JSON); progress and log lines go to stderr.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click
import orjson

_LOGGER = logging.getLogger("emotion_model")

EXIT_USAGE = 2


def _fail(english: str, russian: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"error: {english}\nошибка: {russian}", err=True)
    sys.exit(code)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(
    help="Otklik emotion monitor: a camera, faces, emotions, one event per visit.\n\n"
    "Монитор эмоций «Отклик»: камера, лица, эмоции, одно событие на визит."
)
def cli() -> None:
    pass


@cli.command(
    help="Find the faces in IMAGE and print their emotions as JSON.\n\n"
    "Найти лица на изображении IMAGE и вывести их эмоции в JSON."
)
@click.argument("image", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--detector", type=click.Choice(["blazeface", "haar"]), default="blazeface", show_default=True,
    help="Face detector. / Детектор лиц.",
)  # fmt: skip
def classify(image: Path, detector: str) -> None:
    import cv2

    frame = cv2.imread(str(image), cv2.IMREAD_COLOR) if image.is_file() else None
    if frame is None:
        reason = "no such file" if not image.exists() else "not a readable image"
        reason_ru = "файл не найден" if not image.exists() else "не удалось прочитать изображение"
        _fail(f"cannot read image {image}: {reason}", f"не удалось открыть {image}: {reason_ru}")
    from emotion_model.classifier import EmotionClassifier
    from emotion_model.detect import make_detector

    faces = make_detector(detector).detect(frame)
    classifier = EmotionClassifier()
    probs = classifier.classify(frame, [f.box for f in faces]) if faces else []
    out = []
    for face, row in zip(faces, probs, strict=True):
        dist = {label: round(float(p), 4) for label, p in zip(classifier.labels, row, strict=True)}
        out.append(
            {"box": list(face.box), "score": round(face.score, 4), "label": max(dist, key=dist.__getitem__),
             "probs": dist}
        )  # fmt: skip
    click.echo(orjson.dumps({"image": str(image), "faces": out}).decode())


def _source_kind(spec: str) -> str:
    return spec.split(":", 1)[0].strip().lower()


@cli.command(
    help="Run the emotion monitor: read the source, publish one 'visit' event per visitor and a "
    "status heartbeat over MQTT, like any Otklik device. No image is stored or sent.\n\n"
    "Запустить монитор эмоций: читать источник, публиковать по MQTT одно событие «visit» на "
    "посетителя и статус, как любое устройство «Отклика». Изображения не сохраняются и не передаются."
)
@click.option(
    "--mqtt-url", default="mqtt://127.0.0.1:1883", show_default=True, help="Broker URL. / Адрес брокера."
)
@click.option("--site", required=True, help="Site (office) id. / Идентификатор офиса.")
@click.option("--device", default="cam-01", show_default=True, help="Device id. / Идентификатор устройства.")
@click.option("--username", default=None, help="MQTT user (default: the device id). / Пользователь MQTT.")
@click.option(
    "--password",
    default=None,
    envvar="OTK_MQTT_PASSWORD",
    help="MQTT password (or OTK_MQTT_PASSWORD). / Пароль MQTT.",
)
@click.option(
    "--source",
    "source_spec",
    default="camera:0",
    show_default=True,
    help="camera:N | picamera | file:PATH | synthetic[:SEED]. / Источник видео.",
)
@click.option(
    "--detector",
    type=click.Choice(["blazeface", "haar"]),
    default="blazeface",
    show_default=True,
    help="Face detector. / Детектор лиц.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Outbox and boot counter (default ~/.local/state/otklik/emotion-monitor/DEVICE). "
    "/ Папка очереди событий.",
)
@click.option(
    "--heartbeat-s",
    type=float,
    default=60.0,
    show_default=True,
    help="Status heartbeat period, s. / Период статуса, с.",
)
@click.option(
    "--loop/--no-loop",
    default=False,
    show_default=True,
    help="Start a file or synthetic source again when it ends. / Повторять файл по кругу.",
)
@click.option(
    "--realtime/--no-realtime",
    default=True,
    show_default=True,
    help="Play files at their frame rate (or as fast as possible). / Воспроизводить в реальном времени.",
)
@click.option(
    "--live-view",
    default=None,
    metavar="HOST:PORT",
    help="Serve a heavily blurred admin view (off by default; host 127.0.0.1 unless given); every "
    "request needs the token in OTK_LIVE_VIEW_TOKEN (made and logged once when unset; required for "
    "a non-loopback host). / Размытый просмотр для администратора (по умолчанию выключен; нужен "
    "токен из OTK_LIVE_VIEW_TOKEN).",
)
@click.option(
    "--ack-wait-s",
    type=float,
    default=3.0,
    show_default=True,
    help="At exit, wait this long for the hub's acks. / Ожидание подтверждений при выходе, с.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging. / Подробный журнал.")
def monitor(
    mqtt_url, site, device, username, password, source_spec, detector, state_dir, heartbeat_s, loop, realtime,
    live_view, ack_wait_s, verbose,
) -> None:  # fmt: skip
    _setup_logging(verbose)
    from edge_hub.errors import ConfigError
    from edge_hub.transport.mqtt import BrokerAddress
    from emotion_model.monitor.device import MonitorDevice
    from emotion_model.monitor.liveview import LiveView, parse_listen
    from emotion_model.monitor.loop import Monitor
    from emotion_model.monitor.outbox import state_dir_default
    from emotion_model.monitor.pipeline import Pipeline

    try:
        url = BrokerAddress.from_url(mqtt_url)
        listen = parse_listen(live_view) if live_view else None
    except (ValueError, ConfigError) as exc:
        _fail(str(exc), f"неверный параметр: {exc}")
    from emotion_model.classifier import EmotionClassifier
    from emotion_model.detect import make_detector
    from emotion_model.sources import open_source
    from emotion_model.track import Tracker

    try:
        classifier = EmotionClassifier()
        pipeline = Pipeline(make_detector(detector), classifier, Tracker(classifier.labels))
    except (OSError, RuntimeError, ValueError) as exc:
        _fail(f"cannot load the models: {exc}", f"не удалось загрузить модели: {exc}", 1)
    device_ = MonitorDevice(
        site=site, device=device, host=url.host, port=url.port,
        username=username or url.username or (device if (password or url.password) else None),
        password=password or url.password, state_dir=state_dir or state_dir_default(device),
        heartbeat_s=heartbeat_s,
    )  # fmt: skip
    try:
        view = LiveView(*listen).start() if listen else None  # token: OTK_LIVE_VIEW_TOKEN
    except (ValueError, OSError) as exc:  # the message is in English and Russian already
        click.echo(f"error / ошибка: --live-view: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    kind = _source_kind(source_spec)
    runner = Monitor(
        pipeline, device_, lambda: open_source(source_spec), source_kind=kind, realtime=realtime, loop=loop,
        live_view=view, ack_wait_s=ack_wait_s,
    )  # fmt: skip

    def stop(signum, frame) -> None:
        _LOGGER.info("got %s: finishing", signal.Signals(signum).name)
        runner.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        runner.run()
    except ValueError as exc:  # a wrong --source spec
        _fail(
            f"cannot open source {source_spec!r}: {exc}",
            f"не удалось открыть источник {source_spec!r}: {exc}",
        )
    _LOGGER.info("stopped: %d visits, %d frames", runner.visits, pipeline.frames)


_PASS = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@cli.command(
    "build", context_settings=_PASS, add_help_option=False,
    help="Rebuild the emotion classifier ONNX from the published weights (args go to emotion_model.build; "
    "try --help).\n\nПересобрать ONNX-классификатор эмоций из опубликованных весов.",
)  # fmt: skip
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def build(args) -> None:
    from emotion_model.build import main

    sys.exit(main(list(args)))


@cli.command(
    "convert-detector", context_settings=_PASS, add_help_option=False,
    help="Convert the BlazeFace TFLite detector to ONNX (args go to emotion_model.convert_detector; try "
    "--help).\n\nПреобразовать детектор лиц BlazeFace из TFLite в ONNX.",
)  # fmt: skip
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def convert_detector(args) -> None:
    from emotion_model.convert_detector import main

    sys.exit(main(list(args)))


def main() -> None:
    cli(prog_name="python -m emotion_model")


if __name__ == "__main__":
    main()
