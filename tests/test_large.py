"""Index arithmetic past 2**31 elements, on views that keep memory small."""

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import fastpool


def _hankel(h, w, dtype=np.float32):
    """x[i, j] = base[i + j] for a base of h + w - 1 increasing values: a
    (1, 1, h, w) read-only view of O(h + w) memory whose maximum is its last
    element, so the flat index of the maximum is h*w - 1."""
    base = np.arange(h + w - 1, dtype=dtype)
    step = base.strides[0]
    return as_strided(base, shape=(1, 1, h, w), strides=(0, 0, step, step), writeable=False)


@pytest.mark.slow
def test_global_max_index_past_2_31():
    h = w = 1 << 16  # 2**32 elements in one plane
    x = _hankel(h, w, np.float64)
    y, idx = fastpool.global_max_pool(x, return_indices=True)
    assert idx.dtype == np.int64
    assert int(idx[0, 0, 0, 0]) == h * w - 1 > 2**31
    assert y[0, 0, 0, 0] == h + w - 2
    with pytest.raises(OverflowError):
        fastpool.global_max_pool(x, return_indices=True, index_dtype=np.int32)


@pytest.mark.slow
def test_max_pool_indices_past_2_31_in_the_last_window():
    h, w = 1 << 16, (1 << 15) + 3
    x = _hankel(h, w, np.float64)
    # one window row at the bottom-right corner of a 2**31+ element plane
    y, idx = fastpool.max_pool2d(x, (2, 4), stride=(h - 2, w - 4), return_indices=True)
    assert y.shape == (1, 1, 2, 2)
    assert int(idx[0, 0, 1, 1]) == h * w - 1 > 2**31
    assert y[0, 0, 1, 1] == h + w - 2
    # the same index is validated, not truncated, by a consumer of indices
    small = np.zeros((1, 1, 2, 2), np.float64)
    with pytest.raises(IndexError, match="outside"):
        fastpool.max_pool2d_backward(small, idx, (1, 1, 2, 2))
