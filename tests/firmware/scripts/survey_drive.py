# Drives otk.survey on the MicroPython Unix port: a survey config and a list of actions from
# config.json and actions.json in the working folder (the Unix port dies on an argv over ~1 KB),
# options.json ({"phone": false}: a build without a keypad) when there is one, a fake clock;
# prints one JSON line per action: the screen after it and the events recorded by it. An
# action is ["wait", ms] (then tick()), ["config", {...}], or one of the screens' actions,
# handed to Survey.act().
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


try:
    with open("options.json") as f:
        options = json.load(f)
except OSError:
    options = {}
s = Survey(config, events.append, clock=lambda: now[0], session=session, phone=options.get("phone", True))
for act in actions:
    kind = act[0]
    ok = None
    if kind == "wait":
        now[0] += act[1]
        ok = s.tick()
    elif kind == "config":
        s.configure(act[1])
    else:
        ok = s.act(tuple(act))
    kind_, details = s.screen()
    print(json.dumps({"ok": ok, "busy": s.busy(), "screen": kind_, "details": details, "events": events}))
    events.clear()
print(json.dumps({"completed": s.completed, "abandoned": s.abandoned}))
