#!/usr/bin/env bash
# Install Dask on the GPU machine (no internet) from the wheels carried in .whl (see benchmarks/scripts/gpu_dask_speedup.sh).
# usage (repo root): bash dnn/scripts/install_carried_wheels.sh
set -euo pipefail
# the GPU machine has no internet: install what it lacks from the carried wheels (pure Python, plus
# tornado's abi3 wheel); the others (msgpack, psutil, pyyaml, ...) were already there (H100 image, Python 3.12)
if ! python3 -c "import distributed" 2>/dev/null; then
  need=()
  for m in dask:dask distributed:distributed tornado:tornado zict:zict tblib:tblib partd:partd locket:locket \
           toolz:toolz cloudpickle:cloudpickle sortedcontainers:sortedcontainers yaml:pyyaml msgpack:msgpack \
           psutil:psutil jinja2:jinja2 markupsafe:markupsafe click:click fsspec:fsspec packaging:packaging \
           importlib_metadata:importlib_metadata zipp:zipp lazy_importer:lazy_importer; do
    python3 -c "import ${m%%:*}" 2>/dev/null || need+=("${m#*:}")
  done
  echo "installing from .whl: ${need[*]}" >&2
  python3 -m pip install -q --no-index --no-deps --find-links .whl "${need[@]}"
  if ! python3 -c "import distributed, dask.distributed" 2>/dev/null; then
    # an installed dependency is too old for distributed: bring all of them to the carried versions
    echo "import distributed still fails: installing every carried wheel" >&2
    python3 -m pip install -q --no-index --no-deps --upgrade --find-links .whl dask distributed tornado zict tblib \
      partd locket toolz cloudpickle sortedcontainers pyyaml msgpack psutil jinja2 markupsafe click fsspec packaging \
      importlib_metadata zipp lazy_importer
  fi
fi
python3 -c "import dask, distributed; print('dask', dask.__version__, 'distributed', distributed.__version__)" >&2
