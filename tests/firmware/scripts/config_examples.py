# Every config example of the contract through the device's own check (otk.config.validate),
# on the MicroPython Unix port: examples.json in the working folder maps a name to
# [device id from the example's topic, payload]; prints name -> the refusal (null: accepted).
import json

from otk.config import validate

with open("examples.json") as f:
    docs = json.load(f)
out = {}
for name in docs:
    device, payload = docs[name]
    out[name] = validate(payload, device)
print(json.dumps(out))
