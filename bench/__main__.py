"""Run the benchmarks: `python -m bench` (all) or `python -m bench admin polaris`."""

import importlib
import pkgutil
import sys

import bench
from bench.harness import Stack, report

SUPPORT = {"__main__", "harness", "hello", "soak"}  # soak: make soak runs it, not python -m bench


def main(names):
    modules = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in SUPPORT)
    unknown = set(names) - set(modules)
    if unknown:
        sys.exit("unknown benchmark(s) %s; have %s" % (", ".join(sorted(unknown)), ", ".join(modules)))
    missed = 0
    for name in names or modules:
        module = importlib.import_module("bench." + name)
        with Stack(getattr(module, "SECTIONS", None), getattr(module, "ZOOKEEPER", None)) as stack:
            figures = module.run(stack)
        report(name, figures)
        missed += sum(1 for f in figures if f.passed is False)
    print("\n%d target(s) missed" % missed)


if __name__ == "__main__":
    main(sys.argv[1:])
