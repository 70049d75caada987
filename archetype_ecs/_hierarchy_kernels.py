"""Numba kernels of the hierarchy: children index, levels, descendants, cycle check.

The hierarchy kernels work on entity *slots* (int64 indices into the entity index),
never on ids. The transform-propagation kernels take one table's rows of one depth
level and read the parents' globals from the parents' table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from archetype_ecs._jit import njit

__all__ = [
    "children_index_kernel",
    "descendants_kernel",
    "first_cycle_kernel",
    "gather_children_kernel",
    "levels_kernel",
    "propagate_2d_kernel",
    "propagate_3d_kernel",
]

Array = np.ndarray[Any, Any]


@njit
def children_index_kernel(parent_slot: Array) -> tuple[Array, Array]:
    """CSR children index of a parent array (``-1`` = no parent).

    Returns ``(offsets, children)``: the children of slot ``s`` are
    ``children[offsets[s]:offsets[s + 1]]``, in ascending slot order.
    """
    size = parent_slot.shape[0]
    offsets = np.zeros(size + 1, dtype=np.int64)
    for s in range(size):
        p = parent_slot[s]
        if p >= 0:
            offsets[p + 1] += 1
    for s in range(size):
        offsets[s + 1] += offsets[s]
    fill = offsets[:size].copy()
    children = np.empty(offsets[size], dtype=np.int64)
    for s in range(size):
        p = parent_slot[s]
        if p >= 0:
            children[fill[p]] = s
            fill[p] += 1
    return offsets, children


@njit
def levels_kernel(
    parent_slot: Array, offsets: Array, children: Array
) -> tuple[Array, Array, Array]:
    """Breadth-first order of every slot in a hierarchy, level by level.

    Roots are the slots without a parent that have children, in slot order; each
    level lists the children of the previous level's slots, parent by parent.
    Returns ``(order, level_offsets, depth)``: level ``d`` is
    ``order[level_offsets[d]:level_offsets[d + 1]]``; ``depth[s]`` is 0 for slots
    outside the hierarchy. Slots on a cycle are never reached (the caller compares
    the count with the number of edges).
    """
    size = parent_slot.shape[0]
    order = np.empty(size, dtype=np.int64)
    depth = np.zeros(size, dtype=np.int32)
    n = 0
    for s in range(size):
        if parent_slot[s] < 0 and offsets[s + 1] > offsets[s]:
            order[n] = s
            n += 1
    level_offsets = np.empty(size + 2, dtype=np.int64)
    level_offsets[0] = 0
    levels = 0
    start = 0
    while start < n:
        end = n
        levels += 1
        level_offsets[levels] = end
        for k in range(start, end):
            s = order[k]
            for j in range(offsets[s], offsets[s + 1]):
                c = children[j]
                depth[c] = levels
                order[n] = c
                n += 1
        start = end
    return order[:n].copy(), level_offsets[: levels + 1].copy(), depth


@njit
def descendants_kernel(
    offsets: Array, children: Array, starts: Array, stamp: Array, epoch: int
) -> Array:
    """Slots below any of ``starts`` (breadth first), each once, starts excluded.

    ``stamp`` is scratch memory per slot: entries equal to ``epoch`` mark slots
    already seen in this call, so a corrupt (cyclic) index cannot loop.
    """
    for s in starts:
        stamp[s] = epoch
    out = np.empty(16, dtype=np.int64)
    n = 0
    i = 0  # next start to expand
    head = 0  # next found slot to expand (out doubles as the queue)
    while True:
        if i < starts.shape[0]:
            s = starts[i]
            i += 1
        elif head < n:
            s = out[head]
            head += 1
        else:
            break
        for j in range(offsets[s], offsets[s + 1]):
            c = children[j]
            if stamp[c] == epoch:
                continue
            stamp[c] = epoch
            if n == out.shape[0]:
                grown = np.empty(2 * n, dtype=np.int64)
                grown[:n] = out
                out = grown
            out[n] = c
            n += 1
    return out[:n].copy()


@njit
def gather_children_kernel(
    offsets: Array, children: Array, slots: Array
) -> tuple[Array, Array]:
    """The CSR rows of ``slots``: ``(offsets, children)`` aligned with ``slots``."""
    m = slots.shape[0]
    out_off = np.empty(m + 1, dtype=np.int64)
    out_off[0] = 0
    for i in range(m):
        s = slots[i]
        out_off[i + 1] = out_off[i] + offsets[s + 1] - offsets[s]
    out = np.empty(out_off[m], dtype=np.int64)
    for i in range(m):
        s = slots[i]
        lo = offsets[s]
        base = out_off[i]
        for j in range(offsets[s + 1] - lo):
            out[base + j] = children[lo + j]
    return out_off, out


@njit
def first_cycle_kernel(parent_slot: Array, starts: Array) -> int:
    """A slot on a parent cycle reached by walking up from ``starts``, else -1.

    O(slots): each slot is walked at most once (0 unseen, 1 on the current path,
    2 known to reach a root).
    """
    state = np.zeros(parent_slot.shape[0], dtype=np.int8)
    for s in starts:
        cur = s
        while cur >= 0 and state[cur] == 0:
            state[cur] = 1
            cur = parent_slot[cur]
        if cur >= 0 and state[cur] == 1:
            return int(cur)
        cur = s
        while cur >= 0 and state[cur] == 1:
            state[cur] = 2
            cur = parent_slot[cur]
    return -1


@njit
def propagate_2d_kernel(
    rows: Array,
    parent_rows: Array,
    lx: Array,
    ly: Array,
    lr: Array,
    ls: Array,
    gx: Array,
    gy: Array,
    gr: Array,
    gs: Array,
    px: Array,
    py: Array,
    pr: Array,
    ps: Array,
) -> None:
    """Global 2D transforms of ``rows`` of one table (one depth level).

    ``parent_rows[k]`` is the row of the parent of ``rows[k]`` in the parent table,
    whose global columns are ``px, py, pr, ps`` (-1: a root, global = local).
    Math in float64, stored as float32.
    """
    for k in range(rows.shape[0]):
        r = rows[k]
        p = parent_rows[k]
        x = np.float64(lx[r])
        y = np.float64(ly[r])
        rot = np.float64(lr[r])
        sc = np.float64(ls[r])
        if p >= 0:
            ax = np.float64(px[p])
            ay = np.float64(py[p])
            ar = np.float64(pr[p])
            asc = np.float64(ps[p])
            c = np.cos(ar)
            s = np.sin(ar)
            x, y = ax + asc * (c * x - s * y), ay + asc * (s * x + c * y)
            rot = ar + rot
            sc = asc * sc
        gx[r] = x
        gy[r] = y
        gr[r] = rot
        gs[r] = sc


@njit
def propagate_3d_kernel(
    rows: Array,
    parent_rows: Array,
    lp: Array,
    lq: Array,
    ls: Array,
    gp: Array,
    gq: Array,
    gs: Array,
    pp: Array,
    pq: Array,
    ps: Array,
) -> None:
    """Global 3D transforms of ``rows`` of one table (one depth level).

    Position ``p + R(q) (s * local_p)``, rotation ``q * local_q`` (quaternions
    x, y, z, w), scale ``s * local_s`` (componentwise), where ``p, q, s`` is the
    parent's global (row ``parent_rows[k]`` of ``pp, pq, ps``; -1: a root).
    Math in float64, stored as float32.
    """
    for k in range(rows.shape[0]):
        r = rows[k]
        p = parent_rows[k]
        vx = np.float64(lp[r, 0])
        vy = np.float64(lp[r, 1])
        vz = np.float64(lp[r, 2])
        qx = np.float64(lq[r, 0])
        qy = np.float64(lq[r, 1])
        qz = np.float64(lq[r, 2])
        qw = np.float64(lq[r, 3])
        sx = np.float64(ls[r, 0])
        sy = np.float64(ls[r, 1])
        sz = np.float64(ls[r, 2])
        if p >= 0:
            ax = np.float64(pq[p, 0])
            ay = np.float64(pq[p, 1])
            az = np.float64(pq[p, 2])
            aw = np.float64(pq[p, 3])
            psx = np.float64(ps[p, 0])
            psy = np.float64(ps[p, 1])
            psz = np.float64(ps[p, 2])
            # v' = v + w t + a x t with t = 2 (a x v): rotate the scaled position
            vx, vy, vz = vx * psx, vy * psy, vz * psz
            tx = 2.0 * (ay * vz - az * vy)
            ty = 2.0 * (az * vx - ax * vz)
            tz = 2.0 * (ax * vy - ay * vx)
            vx, vy, vz = (
                vx + aw * tx + (ay * tz - az * ty) + np.float64(pp[p, 0]),
                vy + aw * ty + (az * tx - ax * tz) + np.float64(pp[p, 1]),
                vz + aw * tz + (ax * ty - ay * tx) + np.float64(pp[p, 2]),
            )
            qx, qy, qz, qw = (
                aw * qx + ax * qw + ay * qz - az * qy,
                aw * qy - ax * qz + ay * qw + az * qx,
                aw * qz + ax * qy - ay * qx + az * qw,
                aw * qw - ax * qx - ay * qy - az * qz,
            )
            sx, sy, sz = psx * sx, psy * sy, psz * sz
        gp[r, 0] = vx
        gp[r, 1] = vy
        gp[r, 2] = vz
        gq[r, 0] = qx
        gq[r, 1] = qy
        gq[r, 2] = qz
        gq[r, 3] = qw
        gs[r, 0] = sx
        gs[r, 1] = sy
        gs[r, 2] = sz
