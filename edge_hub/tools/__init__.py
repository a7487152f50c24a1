"""Tools around the hub, not part of it: the simulated office (simulate), the demo office's seed
(demo), and the firmware compiled for boards (firmware_build)."""
