"""hpsearch's benchmarks, one package per benchmark, each run as ``python -m benchmarks.NAME``.

``benchmarks.common`` holds what they and their tests share (a throw-away PostgreSQL database,
percentiles, markdown tables, the machine and versions lines, where the lcbench data are).
Nothing here is installed with hpsearch.
"""
