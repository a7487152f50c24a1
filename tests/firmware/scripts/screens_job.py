# Runs on the MicroPython Unix port (tests/firmware/test_screens.py):
#   micropython screens_job.py JOB.json
# JOB: {"op": "palette"}: screens.PALETTE and PAIRS;
#      {"op": "hit", "targets": [...], "points": [[x, y], ...]}: screens.hit() of each point;
#      {"op": "oled_map", "scales": [[scale, n_values]], "buttons": [3, 4, 5]}: every value each
#        scale reaches through oled's buttons and the presses it takes;
#      {"op": "cut", "kinds": [[kind, details], ...]}: [kind, lang] of each screen drawn in ru and
#        en whose text was cut to its box (text.fit dropped lines).
# Prints one JSON line.
import json
import sys

with open(sys.argv[1]) as f:
    job = json.load(f)
op = job["op"]
if op == "palette":
    import screens

    print(json.dumps({"palette": screens.PALETTE, "pairs": screens.PAIRS, "rgb565": screens.palette565()}))
elif op == "hit":
    import screens

    targets = [(t[0], t[1], t[2], t[3], tuple(t[4])) for t in job["targets"]]
    print(json.dumps([screens.hit(targets, x, y) for x, y in job["points"]]))
elif op == "cut":
    import framebuf
    import screens
    from otk import text

    fit = text.fit
    cut = []

    def watched(font, lines, width, max_lines):
        kept = fit(font, lines, width, max_lines)
        if kept != lines:
            cut.append(where[0])
        return kept

    text.fit = watched
    fb = framebuf.FrameBuffer(bytearray(320 * 240 // 2), 320, 240, framebuf.GS4_HMSB)
    where = [None]
    for kind, d in job["kinds"]:
        for lang in ("ru", "en"):
            where[0] = [kind, lang]
            screens.draw_screen(fb, kind, d, lang)
    print(json.dumps(cut))
elif op == "oled_map":
    import framebuf
    import oled

    fb = framebuf.FrameBuffer(bytearray(1024), 128, 64, framebuf.MONO_VLSB)
    out = {}
    for scale, count in job["scales"]:
        values = list(range(1, count + 1)) if scale == "choice" else None
        if values is None:
            from otk.survey import SCALES

            low, high, _ = SCALES[scale]
            values = list(range(low, high + 1))
        d = {"id": "q", "text": "?", "scale": scale, "values": values,
             "labels": ["option " + str(v) for v in values] if scale == "choice" else None,
             "number": 1, "total": 1}  # fmt: skip
        for n in job["buttons"]:
            reached = {}
            todo = [(None, 1)]
            seen = []
            while todo:
                view, presses = todo.pop()
                if view in seen:
                    continue
                seen.append(view)
                for act in oled.draw_screen(fb, "question", d, "ru", n, view):
                    if act is None:
                        continue
                    if act[0] == "answer":
                        reached[act[1]] = min(presses, reached.get(act[1], 99))
                    else:
                        todo.append((act[1], presses + 1))
            out[scale + str(count) + "/" + str(n)] = sorted(reached.items())
    print(json.dumps(out))
