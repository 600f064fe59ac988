"""Experiments on top of the pipeline API: parameter sweeps, the paper-style reproduction, schedule traces.

Nothing in the core (workload ... simulator) imports this package; it uses `cimopt.api` like a notebook would.
"""
