# Drives otk.survey on the MicroPython Unix port: a survey config and a list of actions from
# config.json and actions.json in the working folder (the Unix port dies on an argv over ~1 KB),
# a fake clock; prints one JSON line per action: the screen after it and the
# events recorded by it.
import json

from otk.survey import Survey

with open("config.json") as f:
    config = json.load(f)
with open("actions.json") as f:
    actions = json.load(f)
now = [1000]
events = []
sessions = [0]


def session():
    sessions[0] += 1
    return "s" + str(sessions[0])


s = Survey(config, events.append, clock=lambda: now[0], session=session)
for act in actions:
    kind = act[0]
    ok = None
    if kind == "wait":
        now[0] += act[1]
        ok = s.tick()
    elif kind == "begin":
        ok = s.begin(act[1] if len(act) > 1 else None)
    elif kind == "answer":
        ok = s.answer(act[1])
    elif kind == "help":
        ok = s.help(act[1])
    elif kind == "config":
        s.configure(act[1])
    kind_, details = s.screen()
    print(json.dumps({"ok": ok, "screen": kind_, "details": details, "events": events}))
    events.clear()
print(json.dumps({"completed": s.completed, "abandoned": s.abandoned}))
