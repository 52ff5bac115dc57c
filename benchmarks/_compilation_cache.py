"""XLA's persistent compilation cache, for benchmarks that compile in ``setup`` and time only the runs.

asv runs every benchmark (and parameter combination) in a fresh process, so a setup that
compiles a training step pays XLA's compilation every time, though the program is the
same from run to run. :func:`cache_compilations` points JAX at a disk cache under
parity's cache folder (``$PARITY_CACHE_DIR``, default ``~/.cache/parity``): the first
run compiles and stores, later runs load the executable, which runs the same machine
code. JAX keys an entry by the optimised program, the compile options and the jax/jaxlib
versions, so a change to a solver compiles afresh.

Never use it where compilation is what is measured (``TrainingThroughput``'s compile
seconds, ``Accuracy``'s time to 1e-2), nor where the compiled executable is inspected
(``JaxFWI``'s temporary memory): those run in ``setup_cache`` processes that do not call
this. It is per process, and asv gives each benchmark its own.
"""

from __future__ import annotations

import jax

from parity.cache import cache_dir


def cache_compilations() -> None:
    """Load (and store) this process's XLA executables from the disk cache; call before compiling."""
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax-compilation"))
