"""Analyses of a problem that schedule nothing: lower bounds on latency (`bounds`) and on tile buffer capacity
(`buffers`). Schedulers and reports read them; they import no scheduler."""
