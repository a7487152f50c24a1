# Device settings: DEFAULTS in code < the provisioned per-device file (id, site, Wi-Fi and
# broker secrets) < the last good config the hub sent (retained, otk/v1/{site}/{device}/config).
# A remote config is checked against the rules of mqtt_schemas/schemas/config.schema.json
# (by hand: no jsonschema on a board), persisted atomically (tmp file + os.rename) and only
# then applied; a bad one is refused with a reason and the last good config stays.
import json
import os

DEFAULTS = {
    "device": "",
    "site": "",
    "wifi_ssid": "",
    "wifi_password": "",
    "broker_host": "",
    "broker_port": 1883,
    "broker_user": "",
    "broker_password": "",
    "broker_ca": "",  # path of the CA certificate on the device: TLS to the broker when set
    "rev": 0,
    "buttons": [1, 2, 3, 4, 5],
    "question": "csat",
    "questions": None,  # a feedback terminal's survey (otk/survey.py; checked by otk/survey_config.py)
    "lockout_ms": 3000,
    "lang": "ru",
    "brightness": 80,
    "heartbeat_s": 60,
    "debounce_ms": 50,
    "outbox_max": 300,
    "safe_mode_after": 3,  # consecutive crashed boots (never power cuts) before safe mode
    "safe_mode_s": 600,  # safe mode ends by itself after this long (or on a new config)
    "boot_ok_s": 300,  # up this long without a crash: the crash streak is over
    "wdt_s": 30,  # hardware watchdog timeout; 0 = no watchdog
    "ntp_host": "pool.ntp.org",  # in an office without internet: the hub's address
    "ntp_resync_s": 21600,
    # battery builds (deep sleep between presses, see firmware/README.md); 0 = mains, never sleeps
    "sleep_after_s": 0,  # idle this long (and everything acked) -> deep sleep
    "sleep_wake_s": 21600,  # timer wake to report status while nobody presses
    "sleep_retry_s": 600,  # timer wake when events are still waiting for the hub
    "awake_max_s": 60,  # give up waiting for the hub after this long awake
}

#: the keys of a feedback terminal's survey (checked by otk/survey_config.py)
_SURVEY_KEYS = ("questions", "welcome", "thanks", "langs", "critic_help", "callback")
_INT_RANGES = {
    # a revision beyond 2**31-1 is refused (and a saved one from older firmware ignored), so
    # no revision can get so high that no newer one exists
    "rev": (0, 2147483647),
    "lockout_ms": (0, 600000),
    "brightness": (0, 100),
    "heartbeat_s": (10, 86400),
    "idle_s": (10, 600),
}


def _is_int(x):
    return type(x) is int  # bool is not an int here


def _id_ok(s, extra):
    # ^[a-z0-9][extra]{0,31}$ where extra adds to [a-z0-9]
    if type(s) is not str or not 1 <= len(s) <= 32:
        return False
    for i, c in enumerate(s):
        if not ("a" <= c <= "z" or "0" <= c <= "9" or (i and c in extra)):
            return False
    return True


def validate(msg, device, rev=None):
    """None when ``msg`` (a decoded config) is valid for ``device`` and newer than ``rev``; else why."""
    if type(msg) is not dict:
        return "not an object"
    for k in msg:
        if k not in ("v", "device", "rev", "buttons", "question", "lockout_ms", "lang", "brightness",
                     "heartbeat_s", "questions", "welcome", "thanks", "langs", "idle_s",
                     "critic_help", "callback"):  # fmt: skip
            return "unknown key " + str(k)
    if msg.get("v") != 1 or not _is_int(msg.get("v")):
        return "v must be 1"
    if msg.get("device") != device or not _id_ok(device, "_-"):
        return "device mismatch"
    for k in _INT_RANGES:
        if k in msg or k == "rev":
            x = msg.get(k)
            lo, hi = _INT_RANGES[k]
            if not _is_int(x) or not lo <= x <= hi:
                return k + " out of range"
    if rev is not None and msg["rev"] <= rev:
        return "rev not newer"
    if "buttons" in msg:
        b = msg["buttons"]
        if type(b) is not list or not 3 <= len(b) <= 5:
            return "buttons: 3 to 5 required"
        for x in b:
            if not _is_int(x) or not 0 <= x <= 10:
                return "buttons: values 0..10"
    if "question" in msg and not _id_ok(msg["question"], "_.-"):
        return "bad question"
    if "lang" in msg and msg["lang"] not in ("ru", "en"):
        return "bad lang"
    for k in _SURVEY_KEYS:
        if k in msg:
            # a survey's rules load only on a terminal that gets one: a button console keeps
            # the ~3 KB of heap they cost
            from otk.survey_config import survey_error

            return survey_error(msg)
    return None


def _load(path):
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    return d if type(d) is dict else None


class Config:
    def __init__(self, path_provisioned="device.json", path_saved="config.json"):
        self.path_saved = path_saved
        self.save_errors = 0  # configs applied but not saved (flash error)
        self._d = dict(DEFAULTS)
        prov = _load(path_provisioned)
        if prov:
            self._d.update(prov)
        # the .tmp only when the saved file is gone (a rename that had to remove it first)
        saved = _load(path_saved) or _load(path_saved + ".tmp")
        # a saved config for another device (re-provisioned) or a damaged one is ignored
        if saved and validate(saved, self._d["device"]) is None:
            self._apply(saved)

    def get(self, key, default=None):
        return self._d.get(key, default)

    def __getitem__(self, key):
        return self._d[key]

    def apply_remote(self, payload):
        """Check, persist and apply a config from the hub; returns (ok, reason)."""
        try:
            msg = json.loads(payload)
        except ValueError:
            return False, "not JSON"
        err = validate(msg, self._d["device"], self._d["rev"])
        if err:
            return False, err
        try:
            self._save(msg)
        except OSError as e:  # a full or failing flash: apply it anyway; it comes again (retained)
            self.save_errors += 1
            print("config not saved:", e)
        self._apply(msg)
        return True, "ok"

    def _save(self, msg):
        tmp = self.path_saved + ".tmp"
        with open(tmp, "w") as f:
            json.dump(msg, f)
            f.flush()
            if hasattr(os, "sync"):
                os.sync()
        try:
            os.rename(tmp, self.path_saved)
        except OSError:  # a filesystem whose rename will not replace
            os.remove(self.path_saved)
            os.rename(tmp, self.path_saved)

    def _apply(self, msg):
        for k in msg:
            if k != "v":
                self._d[k] = msg[k]
