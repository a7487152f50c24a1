# The door's visitor counter from two break-beams a few cm apart: beam A on the street side,
# beam B on the hall side (issue 16). A passage is everything between both beams clear and both
# beams clear again; it counts by which beam was broken first and which was cleared last:
#
#   first A, last B   entries: one per time each beam was broken (people in a row, close
#                     together, keep a beam broken in turn: min(breaks of A, breaks of B))
#   first B, last A   exits, the same way
#   first = last      nobody passed: someone stepped in and turned back (or a hand, a bag)
#
# Two people abreast break each beam once: they count as one (two beams cannot see side by
# side: the time-of-flight build with two zones is the answer there). A beam broken for longer
# than block_ms (someone standing in the door, a box left in it) ends the passage uncounted and
# is reported as blocked until it clears; the passage after it starts afresh.
#
# feed(beam, broken, now_ms) takes every edge of the two beams (from pin interrupts or a
# polling loop, debounced); check(now_ms) notices a beam blocked too long without an edge.
# take() returns and clears the counts of the interval (the device publishes them as readings).
from otk.compat import ticks_diff

A = 0
B = 1
BLOCK_MS = 60000


class DoorCounter:
    def __init__(self, block_ms=BLOCK_MS):
        self.block_ms = block_ms
        self.broken = [False, False]
        self.since = [0, 0]  # when each beam was last broken
        self.entries = 0
        self.exits = 0
        self.turned = 0  # passages that counted nobody
        self.blocked = None  # the beam blocked too long, until it clears
        self._reset()

    def _reset(self):
        self.first = None
        self.last = None
        self.breaks = [0, 0]

    def feed(self, beam, broken, now):
        if self.broken[beam] == broken:
            return  # no edge (a repeated level)
        self.broken[beam] = broken
        if broken:
            self.since[beam] = now
            if self.blocked is not None:
                return
            if self.first is None:
                self.first = beam
            self.breaks[beam] += 1
            return
        if self.blocked == beam:  # the blocked beam clears: counting starts again when both do
            self.blocked = None
            if not self.broken[1 - beam]:
                self._reset()
            return
        if self.blocked is not None or self.first is None:
            return
        self.last = beam
        if not self.broken[0] and not self.broken[1]:
            self._end()

    def _end(self):
        n = min(self.breaks[A], self.breaks[B])
        if self.first == A and self.last == B and n:
            self.entries += n
        elif self.first == B and self.last == A and n:
            self.exits += n
        else:
            self.turned += 1
        self._reset()

    def check(self, now):
        """A beam broken for longer than block_ms: the passage is dropped and the beam reported."""
        for beam in (A, B):
            if self.broken[beam] and self.blocked is None and ticks_diff(now, self.since[beam]) >= self.block_ms:
                self.blocked = beam
                self._reset()
        return self.blocked

    def take(self):
        """(entries, exits) since the last take, cleared."""
        counts = (self.entries, self.exits)
        self.entries = self.exits = 0
        return counts
