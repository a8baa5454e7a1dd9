"""numpy internals (measured on numpy 2.4.6; numpy 1.x pickles name numpy.core).

``ARRAY_PICKLE_CLASSES``: a pickled array names the function that rebuilds it, and numpy says
where that function lives only by pickling one: ``numpy.core.multiarray._reconstruct`` up to
numpy 1.x, ``numpy._core.multiarray._reconstruct`` from numpy 2. The CIFAR batch reader
(``gauntlet.data.vision``) allows these classes and no others. Test:
``tests/test_vision_files.py::test_cifar10_python_batches_train_a_cnn_to_better_than_chance``.
"""

from __future__ import annotations

# (module, name) pairs a pickle of plain numpy arrays refers to
ARRAY_PICKLE_CLASSES = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)
