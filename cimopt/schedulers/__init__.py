"""Schedulers: each turns (workload, hardware, mapping, sets) into a Schedule checked by the simulator."""
