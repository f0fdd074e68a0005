"""The catalogue of procedural classes: everyday objects assembled from primitives.

Each builder takes a `Sampler` and returns the parts of one instance (z up, x forward, about 2 units
across). Within a class the proportions, the number of parts and the optional parts vary; `make_shape`
then adds a small smooth deformation. CATALOGUE lists the classes most distinct from each other first,
so the default preset (its first 12) is an easy but not trivial benchmark.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from bwot.synthetic.parts import (
    Sampler,
    assemble,
    ball,
    box,
    cone,
    deform,
    hull,
    lathe,
    ring,
    rod,
    slab,
)

Builder = Callable[[Sampler], list[trimesh.Trimesh]]


def _v(*xyz: float) -> np.ndarray:
    return np.array(xyz, float)


def airplane(p: Sampler) -> list[trimesh.Trimesh]:
    """Fuselage, swept wings, tail fin and stabilisers; optional engines."""
    length, r = p.u(1.7, 2.3), p.u(0.09, 0.15)
    parts = [rod((-length / 2, 0, 0), (length / 2, 0, 0), r, 16)]
    parts += [ball((length / 2, 0, 0), (r * p.u(1.5, 2.5), r, r)), ball((-length / 2, 0, 0), r)]
    span, chord, sweep = p.u(1.5, 2.3), p.u(0.25, 0.45), p.u(0.05, 0.5)
    x0, t = p.u(-0.15, 0.2), 0.03
    for s in (1, -1):
        tip = (x0 - sweep, s * span / 2)
        pts = [(x0 + chord / 2, s * r * 0.5), (x0 - chord / 2, s * r * 0.5)]
        pts += [(tip[0] - chord * 0.3, tip[1]), (tip[0] + chord * 0.1, tip[1])]
        parts.append(hull([(x, y, z) for x, y in pts for z in (-t, t)]))
    back, fin_h = -length / 2, p.u(0.35, 0.6)
    fin = [(back + 0.4, 0, r * 0.5), (back, 0, r * 0.5), (back - 0.05, 0, fin_h), (back + 0.12, 0, fin_h)]
    parts.append(hull([(x, y, z) for x, _, z in fin for y in (-t, t)]))
    stab = p.u(0.35, 0.6)
    for s in (1, -1):
        pts = [(back + 0.3, 0), (back, 0), (back - 0.05, s * stab), (back + 0.1, s * stab)]
        parts.append(hull([(x, y, z) for x, y in pts for z in (-t / 2, t / 2)]))
    engines = p.pick([0, 2, 2, 4])
    for k in range(engines):
        y = (1 if k % 2 else -1) * span * (0.18 if k < 2 else 0.33)
        parts.append(rod((x0 + 0.2, y, -0.12), (x0 - 0.15, y, -0.12), 0.06, 12))
    return parts


def chair(p: Sampler) -> list[trimesh.Trimesh]:
    """Seat, four legs, a solid or slatted back; optional arms and stretchers."""
    w, d, h, t = p.u(0.8, 1.1), p.u(0.8, 1.05), p.u(0.7, 1.0), p.u(0.06, 0.12)
    parts = [box((0, 0, h), (d, w, t))]
    lr = p.u(0.03, 0.06)
    corners = [(sx * (d / 2 - lr), sy * (w / 2 - lr)) for sx in (1, -1) for sy in (1, -1)]
    splay = p.u(0.0, 0.08)
    for x, y in corners:
        parts.append(rod((x * (1 + splay), y * (1 + splay), 0), (x, y, h), lr, 10))
    back_h, bx = p.u(0.7, 1.1), -d / 2 + 0.04
    if p.flag(0.5):
        parts.append(box((bx, 0, h + back_h / 2), (0.06, w, back_h)))
    else:
        slats = p.i(2, 5)
        parts.append(box((bx, 0, h + back_h), (0.07, w, 0.12)))
        for y in np.linspace(-w / 2 + 0.04, w / 2 - 0.04, slats):
            parts.append(rod((bx, y, h), (bx, y, h + back_h), 0.03, 8))
    if p.flag(0.35):
        for s in (1, -1):
            y = s * (w / 2 - 0.03)
            parts.append(box((0, y, h + 0.3), (d, 0.07, 0.05)))
            parts.append(rod((d / 2 - 0.06, y, h), (d / 2 - 0.06, y, h + 0.3), 0.025, 8))
    if p.flag(0.3):
        parts.append(rod((d / 2 - lr, -w / 2 + lr, h * 0.3), (d / 2 - lr, w / 2 - lr, h * 0.3), 0.02, 8))
        parts.append(rod((-d / 2 + lr, -w / 2 + lr, h * 0.3), (-d / 2 + lr, w / 2 - lr, h * 0.3), 0.02, 8))
    return parts


def table(p: Sampler) -> list[trimesh.Trimesh]:
    """A rectangular or round top on four legs or a pedestal; optional lower shelf."""
    h, t = p.u(0.7, 1.0), p.u(0.05, 0.1)
    if p.flag(0.6):
        length, width = p.u(1.4, 2.2), p.u(0.8, 1.2)
        parts = [box((0, 0, h), (length, width, t))]
        lr = p.u(0.04, 0.08)
        for sx in (1, -1):
            for sy in (1, -1):
                x, y = sx * (length / 2 - 0.1), sy * (width / 2 - 0.1)
                parts.append(box((x, y, h / 2), (2 * lr, 2 * lr, h)))
        if p.flag(0.35):
            parts.append(box((0, 0, h * 0.25), (length - 0.2, width - 0.2, 0.04)))
    else:
        radius = p.u(0.6, 1.0)
        parts = [rod((0, 0, h - t / 2), (0, 0, h + t / 2), radius, 32)]
        parts.append(rod((0, 0, 0.03), (0, 0, h), p.u(0.05, 0.1), 12))
        if p.flag(0.5):
            parts.append(rod((0, 0, 0), (0, 0, 0.05), radius * p.u(0.4, 0.6), 24))
        else:
            for a in np.linspace(0, 2 * np.pi, p.i(3, 4), endpoint=False):
                foot = radius * 0.55 * np.array([np.cos(a), np.sin(a)])
                parts.append(rod((0, 0, 0.15), (foot[0], foot[1], 0.0), 0.04, 8))
    return parts


def lamp(p: Sampler) -> list[trimesh.Trimesh]:
    """A desk lamp (base, jointed arm, conical shade) or a floor lamp (pole, drum shade)."""
    br = p.u(0.3, 0.45)
    parts = [rod((0, 0, 0), (0, 0, 0.08), br, 24)]
    if p.flag(0.6):
        a1, a2 = p.u(0.8, 1.2), p.u(0.7, 1.0)
        lean1, lean2 = p.u(0.1, 0.5), p.u(0.4, 1.1)
        j1 = np.array([np.sin(lean1) * a1, 0, 0.08 + np.cos(lean1) * a1])
        j2 = j1 + np.array([np.sin(lean2) * a2, 0, np.cos(lean2) * a2 * 0.4])
        parts += [rod((0, 0, 0.08), j1, 0.035, 10), ball(j1, 0.06), rod(j1, j2, 0.035, 10), ball(j2, 0.06)]
        sr, sl = p.u(0.22, 0.35), p.u(0.3, 0.45)
        down = np.array([p.u(0.2, 0.6), 0, -1.0])
        tip = j2 - 0.02 * down
        parts.append(cone(tip + sl * down / np.linalg.norm(down), tip, sr))
    else:
        hgt, sr = p.u(1.6, 2.2), p.u(0.3, 0.45)
        parts.append(rod((0, 0, 0.08), (0, 0, hgt), 0.03, 10))
        top, bottom = sr * p.u(0.6, 0.9), sr
        parts.append(lathe([(0, hgt - 0.1), (bottom, hgt - 0.1), (top, hgt + 0.35), (0, hgt + 0.35)]))
    return parts


def car(p: Sampler) -> list[trimesh.Trimesh]:
    """A body, a cabin and four wheels; optional spoiler."""
    length, width, body_h = p.u(1.9, 2.5), p.u(0.85, 1.05), p.u(0.3, 0.45)
    wr, clear = p.u(0.17, 0.24), p.u(0.08, 0.15)
    z0 = wr + clear * 0.3
    parts = [slab((0, 0, z0 + body_h / 2), (length, width, body_h), p.u(0.85, 1.0), axis=2)]
    cab_l, cab_h, cab_x = length * p.u(0.4, 0.6), p.u(0.3, 0.45), p.u(-0.25, 0.05)
    top = z0 + body_h
    rake = cab_l * p.u(0.15, 0.3)
    pts = [(cab_x - cab_l / 2, top), (cab_x + cab_l / 2, top)]
    pts += [(cab_x + cab_l / 2 - rake, top + cab_h), (cab_x - cab_l / 2 + rake * 0.6, top + cab_h)]
    cw = width * 0.42
    parts.append(hull([(x, y, z) for x, z in pts for y in (-cw, cw)]))
    wx = length / 2 - wr * 1.5
    for x in (wx, -wx):
        for s in (1, -1):
            y = s * width / 2
            parts.append(rod((x, y - 0.06 * s, wr), (x, y + 0.08 * s, wr), wr, 20))
    if p.flag(0.25):
        xs = -length / 2 + 0.1
        parts.append(box((xs, 0, top + 0.15), (0.15, width, 0.04)))
        for s in (1, -1):
            parts.append(box((xs, s * width * 0.35, top + 0.07), (0.05, 0.04, 0.15)))
    return parts


def bottle(p: Sampler) -> list[trimesh.Trimesh]:
    """A revolved body with shoulder, neck and cap."""
    r, h = p.u(0.28, 0.45), p.u(0.9, 1.5)
    nr, nl, sh = r * p.u(0.25, 0.4), p.u(0.25, 0.5), p.u(0.15, 0.35)
    prof = [(0, 0), (r * 0.95, 0), (r, 0.04), (r, h), (nr, h + sh), (nr, h + sh + nl), (0, h + sh + nl)]
    parts = [lathe(prof, sections=28)]
    cap = p.u(0.08, 0.16)
    parts.append(rod((0, 0, h + sh + nl - 0.02), (0, 0, h + sh + nl + cap), nr * 1.15, 20))
    if p.flag(0.4):  # label band
        parts.append(rod((0, 0, h * 0.35), (0, 0, h * 0.7), r * 1.02, 28))
    return parts


def mug(p: Sampler) -> list[trimesh.Trimesh]:
    """A hollow cylinder (rim visible) with a ring handle."""
    r, h, wall = p.u(0.4, 0.55), p.u(0.7, 1.1), p.u(0.04, 0.07)
    flare = p.u(1.0, 1.15)
    prof = [(0, 0), (r, 0), (r * flare, h), (r * flare - wall, h), (r - wall, wall), (0, wall)]
    parts = [lathe(prof, sections=32)]
    hr = h * p.u(0.25, 0.35)
    parts.append(ring((r + hr * 0.55, 0, h * p.u(0.45, 0.55)), hr, p.u(0.04, 0.07), axis=(0, 1, 0)))
    return parts


def guitar(p: Sampler) -> list[trimesh.Trimesh]:
    """Two body lobes, a sound hole, a long neck and a headstock."""
    lower, upper, t = p.u(0.42, 0.55), p.u(0.3, 0.42), p.u(0.1, 0.16)
    parts = [ball((0, 0, 0), (lower, lower * 1.05, t)), ball((lower * 1.1, 0, 0), (upper, upper * 1.05, t))]
    parts.append(rod((lower * 0.7, 0, t * 0.7), (lower * 0.7, 0, t * 0.95), upper * 0.3, 20))
    neck = p.u(1.1, 1.5)
    start = lower * 1.1 + upper * 0.6
    parts.append(box((start + neck / 2, 0, t * 0.6), (neck, 0.1, 0.06)))
    head = p.u(0.22, 0.32)
    parts.append(slab((start + neck + head / 2, 0, t * 0.6), (head, 0.17, 0.05), p.u(0.8, 1.3), axis=0))
    upright = trimesh.transformations.rotation_matrix(-np.pi / 2, (0, 1, 0))  # neck up, top facing -x
    for part in parts:
        part.apply_transform(upright)
    return parts


def tree(p: Sampler) -> list[trimesh.Trimesh]:
    """A trunk with a crown of stacked cones (conifer) or of blobs (broadleaf)."""
    trunk_h, tr = p.u(0.5, 0.9), p.u(0.07, 0.12)
    parts = [rod((0, 0, 0), (0, 0, trunk_h + 0.1), tr, 12)]
    if p.flag(0.5):
        tiers, z, r = p.i(2, 4), trunk_h, p.u(0.6, 0.85)
        for _ in range(tiers):
            th = r * p.u(1.1, 1.5)
            parts.append(cone((0, 0, z), (0, 0, z + th), r, 20))
            z, r = z + th * 0.45, r * 0.75
    else:
        parts.append(ball((0, 0, trunk_h + 0.5), p.u(0.5, 0.7)))
        for _ in range(p.i(2, 5)):
            a, e = p.u(0, 2 * np.pi), p.u(-0.3, 0.9)
            c = np.array([np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)]) * 0.5
            parts.append(ball(c + _v(0, 0, trunk_h + 0.5), p.u(0.3, 0.45)))
    return parts


def house(p: Sampler) -> list[trimesh.Trimesh]:
    """Walls, a gable roof, a door, windows; optional chimney."""
    length, width, h = p.u(1.4, 2.0), p.u(1.0, 1.4), p.u(0.8, 1.1)
    parts = [box((0, 0, h / 2), (length, width, h))]
    rh, over = p.u(0.45, 0.8), 0.08
    ridge = [(x, 0, h + rh) for x in (-length / 2 - over, length / 2 + over)]
    eaves = [
        (x, y, h - 0.03)
        for x in (-length / 2 - over, length / 2 + over)
        for y in (-width / 2 - over, width / 2 + over)
    ]
    parts.append(hull(ridge + eaves))
    parts.append(box((p.u(-0.3, 0.3), width / 2, 0.3), (0.3, 0.04, 0.6)))
    for _ in range(p.i(1, 3)):
        parts.append(
            box((p.u(-length / 2 + 0.25, length / 2 - 0.25), width / 2, h * 0.65), (0.25, 0.04, 0.22))
        )
    if p.flag(0.6):
        cx = p.u(-length / 3, length / 3)
        parts.append(box((cx, -width / 4, h + rh * 0.6), (0.16, 0.16, rh)))
    return parts


def bicycle(p: Sampler) -> list[trimesh.Trimesh]:
    """Two wheels, a diamond frame, seat and handlebar."""
    wr, base = p.u(0.38, 0.48), p.u(1.0, 1.3)
    rear, front = np.array([-base / 2, 0, wr]), np.array([base / 2, 0, wr])
    parts = [ring(rear, wr, 0.035, axis=(0, 1, 0)), ring(front, wr, 0.035, axis=(0, 1, 0))]
    parts += [
        rod(rear + _v(0, -0.04, 0), rear + _v(0, 0.04, 0), 0.05, 10),
        rod(front + _v(0, -0.04, 0), front + _v(0, 0.04, 0), 0.05, 10),
    ]
    crank = np.array([p.u(-0.1, 0.05), 0, wr * 0.9])
    seat = np.array([-base * p.u(0.15, 0.25), 0, wr + p.u(0.5, 0.7)])
    head = np.array([base * p.u(0.28, 0.36), 0, wr + p.u(0.45, 0.65)])
    fr = 0.025
    for a, b in [(rear, crank), (rear, seat), (crank, seat), (crank, head), (seat, head), (head, front)]:
        parts.append(rod(a, b, fr, 8))
    parts.append(box(seat + _v(0, 0, 0.05), (0.25, 0.1, 0.05)))
    bar = head + _v(-0.05, 0, 0.15)
    parts.append(rod(head, bar, fr, 8))
    hw = p.u(0.2, 0.3)
    parts.append(rod(bar + _v(0, -hw, 0), bar + _v(0, hw, 0), fr, 8))
    return parts


def sword(p: Sampler) -> list[trimesh.Trimesh]:
    """A pointed blade, a cross guard, a grip and a pommel (along z, tip up)."""
    bl, bw, bt = p.u(1.4, 2.0), p.u(0.08, 0.16), 0.03
    tip = p.u(0.12, 0.3)
    blade = [(x, y, z) for x in (-bw / 2, bw / 2) for y in (-bt / 2, bt / 2) for z in (0, bl - tip)]
    blade += [(0, 0, bl), (0, bt / 3, bl - 0.02), (0, -bt / 3, bl - 0.02)]
    parts = [hull(blade)]
    gw = p.u(0.35, 0.6)
    if p.flag(0.5):
        parts.append(box((0, 0, -0.03), (gw, 0.08, 0.06)))
    else:
        parts.append(rod((-gw / 2, 0, -0.03), (gw / 2, 0, -0.03), 0.035, 10))
        for s in (1, -1):
            parts.append(ball((s * gw / 2, 0, -0.03), 0.05, 1))
    grip = p.u(0.25, 0.4)
    parts.append(rod((0, 0, -0.06), (0, 0, -0.06 - grip), 0.035, 10))
    parts.append(ball((0, 0, -0.09 - grip), p.u(0.05, 0.08)))
    return parts


def bed(p: Sampler) -> list[trimesh.Trimesh]:
    """Mattress on a frame with a headboard, pillows; optional footboard."""
    length, width, h = p.u(1.9, 2.2), p.u(1.0, 1.6), p.u(0.35, 0.5)
    parts = [
        box((0, 0, h - 0.1), (length, width, 0.2)),
        box((0, 0, h + 0.08), (length - 0.06, width - 0.06, 0.16)),
    ]
    for sx in (1, -1):
        for sy in (1, -1):
            parts.append(
                box((sx * (length / 2 - 0.05), sy * (width / 2 - 0.05), (h - 0.2) / 2), (0.08, 0.08, h - 0.2))
            )
    hb = p.u(0.5, 0.9)
    parts.append(box((-length / 2 - 0.03, 0, hb / 2 + 0.05), (0.07, width + 0.06, hb + 0.4)))
    for y in np.linspace(-width / 4, width / 4, p.i(1, 2)) if width > 1.2 else [0.0]:
        parts.append(ball((-length / 2 + 0.25, y, h + 0.22), (0.14, min(0.3, width / 4), 0.06)))
    if p.flag(0.5):
        parts.append(box((length / 2 + 0.03, 0, h / 2 + 0.05), (0.07, width + 0.06, h + 0.1)))
    return parts


def bookshelf(p: Sampler) -> list[trimesh.Trimesh]:
    """Two sides, a top, several shelves and a back; optional books."""
    w, d, h, t = p.u(0.8, 1.4), p.u(0.3, 0.45), p.u(1.3, 2.0), 0.04
    parts = [box((0, s * w / 2, h / 2), (d, t, h)) for s in (1, -1)]
    parts.append(box((-d / 2, 0, h / 2), (0.02, w, h)))
    shelves = p.i(3, 6)
    for z in np.linspace(0.03, h - 0.02, shelves):
        parts.append(box((0, 0, z), (d, w, t)))
    if p.flag(0.5):
        gap = (h - 0.05) / (shelves - 1)
        for z in np.linspace(0.03, h - 0.02, shelves)[:-1]:
            y = -w / 2 + 0.05
            while y < w / 2 - 0.12 and p.flag(0.85):
                bw, bh = p.u(0.04, 0.09), gap * p.u(0.5, 0.85)
                parts.append(box((0, y + bw / 2, z + bh / 2 + t / 2), (d * 0.85, bw, bh)))
                y += bw + 0.005
    return parts


def umbrella(p: Sampler) -> list[trimesh.Trimesh]:
    """A shallow canopy on a shaft with a hooked handle."""
    r, dome, shaft = p.u(0.8, 1.1), p.u(0.25, 0.45), p.u(1.3, 1.7)
    ribs = p.pick([8, 8, 10, 12])
    prof = [(0, shaft + dome), (r * 0.5, shaft + dome * 0.8), (r, shaft), (0, shaft + dome * 0.05)]
    parts = [lathe(prof, sections=ribs)]
    parts.append(rod((0, 0, 0), (0, 0, shaft + dome + 0.12), 0.025, 8))
    hr = p.u(0.08, 0.13)
    parts.append(ring((hr, 0, 0), hr, 0.03, axis=(0, 1, 0)))
    return parts


def rocket(p: Sampler) -> list[trimesh.Trimesh]:
    """A body, a nose cone, three or four fins and a nozzle."""
    h, r = p.u(1.3, 1.9), p.u(0.15, 0.25)
    parts = [rod((0, 0, 0), (0, 0, h), r, 20), cone((0, 0, h), (0, 0, h + r * p.u(2.0, 3.5)), r, 20)]
    parts.append(cone((0, 0, -0.15), (0, 0, 0.05), r * 0.7, 16))
    fins, fl, fh = p.pick([3, 4, 4]), p.u(0.2, 0.4), p.u(0.3, 0.6)
    for a in np.linspace(0, 2 * np.pi, fins, endpoint=False):
        d = np.array([np.cos(a), np.sin(a), 0])
        n = np.array([-d[1], d[0], 0]) * 0.015
        pts = [d * r * 0.9 + (0, 0, fh), d * r * 0.9, d * (r + fl) + (0, 0, -0.1), d * (r + fl) + (0, 0, 0.1)]
        parts.append(hull([q + s * n for q in pts for s in (1, -1)]))
    if p.flag(0.4):
        parts.append(rod((0, 0, h * 0.5), (0, 0, h * 0.53), r * 1.1, 20))
    return parts


def dumbbell(p: Sampler) -> list[trimesh.Trimesh]:
    """A bar with one or more weight plates at each end."""
    bar = p.u(0.9, 1.4)
    parts = [rod((-bar / 2, 0, 0), (bar / 2, 0, 0), 0.04, 10)]
    plates, pr, pt = p.i(1, 3), p.u(0.22, 0.35), p.u(0.06, 0.12)
    for s in (1, -1):
        for k in range(plates):
            x = s * (bar / 2 - 0.08 - k * (pt + 0.01))
            parts.append(rod((x - pt / 2, 0, 0), (x + pt / 2, 0, 0), pr * (1 - 0.12 * k), 24))
    return parts


def hammer(p: Sampler) -> list[trimesh.Trimesh]:
    """A handle and a head, flat on one side and clawed or round on the other."""
    hl = p.u(0.9, 1.3)
    parts = [rod((0, 0, 0), (0, 0, hl), p.u(0.04, 0.06), 10)]
    head_l, hs = p.u(0.45, 0.65), p.u(0.08, 0.12)
    parts.append(box((0.05, 0, hl), (head_l * 0.6, hs, hs * 1.3)))
    parts.append(rod((0.05 + head_l * 0.3, 0, hl), (0.05 + head_l * 0.45, 0, hl), hs * 0.65, 14))
    if p.flag(0.6):
        claw = [(0.05 - head_l * 0.3, y, hl + z) for y in (-hs / 2, hs / 2) for z in (-hs * 0.6, hs * 0.6)]
        claw += [(0.05 - head_l * 0.6, y, hl - hs * 0.9) for y in (-hs / 3, hs / 3)]
        parts.append(hull(claw))
    return parts


def monitor(p: Sampler) -> list[trimesh.Trimesh]:
    """A thin screen with a bezel on a neck and a foot."""
    w, h = p.u(1.2, 1.8), p.u(0.7, 1.0)
    lift = p.u(0.25, 0.45)
    parts = [box((0, 0, lift + h / 2), (0.06, w, h)), box((0.035, 0, lift + h / 2), (0.01, w - 0.1, h - 0.1))]
    parts.append(box((-0.06, 0, lift * 0.6), (0.05, 0.12, lift * 1.2)))
    parts.append(box((-0.05, 0, 0.02), (p.u(0.3, 0.45), p.u(0.35, 0.6), 0.04)))
    return parts


def ladder(p: Sampler) -> list[trimesh.Trimesh]:
    """Two rails and several rungs, leaning slightly."""
    h, w, rungs = p.u(1.8, 2.4), p.u(0.4, 0.6), p.i(4, 8)
    lean = p.u(0.0, 0.3)
    rails = [rod((-lean, s * w / 2, 0), (0, s * w / 2, h), 0.035, 8) for s in (1, -1)]
    parts = list(rails)
    for z in np.linspace(0.25, h - 0.15, rungs):
        x = -lean * (1 - z / h)
        parts.append(rod((x, -w / 2, z), (x, w / 2, z), 0.025, 8))
    return parts


def bench(p: Sampler) -> list[trimesh.Trimesh]:
    """A long slatted seat on two leg frames; optional back."""
    length, d, h = p.u(1.6, 2.4), p.u(0.4, 0.55), p.u(0.4, 0.5)
    slats = p.i(2, 4)
    parts = []
    for x in np.linspace(-d / 2 + 0.06, d / 2 - 0.06, slats):
        parts.append(box((x, 0, h), (d / slats * 0.8, length, 0.04)))
    for y in (-length / 2 + 0.15, length / 2 - 0.15):
        parts += [box((x, y, h / 2), (0.06, 0.06, h)) for x in (-d / 2 + 0.05, d / 2 - 0.05)]
        parts.append(box((0, y, h * 0.3), (d, 0.04, 0.05)))
    if p.flag(0.5):
        bh = p.u(0.35, 0.5)
        parts.append(box((-d / 2, 0, h + bh * 0.6), (0.04, length, bh * 0.5)))
        for y in (-length / 2 + 0.15, length / 2 - 0.15):
            parts.append(box((-d / 2, y, h + bh / 2), (0.05, 0.05, bh)))
    return parts


def wineglass(p: Sampler) -> list[trimesh.Trimesh]:
    """A revolved foot, stem and bowl."""
    fr, stem, br, bh = p.u(0.3, 0.4), p.u(0.5, 0.8), p.u(0.3, 0.42), p.u(0.45, 0.7)
    sr = 0.035
    lip = br * p.u(0.75, 1.0)
    prof = [(0, 0), (fr, 0), (fr * 0.9, 0.03), (sr, 0.08), (sr, stem), (br * 0.6, stem + bh * 0.1)]
    prof += [(br, stem + bh * 0.55), (lip, stem + bh), (lip - 0.02, stem + bh), (0, stem + bh * 0.2)]
    return [lathe(prof, sections=28)]


def mushroom(p: Sampler) -> list[trimesh.Trimesh]:
    """A thick stem and a domed cap."""
    sr, sh, cr = p.u(0.15, 0.28), p.u(0.5, 0.9), p.u(0.5, 0.8)
    dome = p.u(0.3, 0.6)
    parts = [lathe([(0, 0), (sr * 1.2, 0), (sr, sh * 0.5), (sr * 0.85, sh), (0, sh)], sections=20)]
    angles = np.linspace(0, np.pi / 2, 8)
    cap = [(cr * np.cos(a), sh - 0.05 + dome * np.sin(a)) for a in angles]
    parts.append(lathe([(0, sh - 0.05), *cap[:-1], (0, sh - 0.05 + dome)], sections=24))
    return parts


def snowman(p: Sampler) -> list[trimesh.Trimesh]:
    """Two or three stacked balls, a hat, a carrot nose and stick arms."""
    balls = p.pick([2, 3, 3])
    r, z, parts = p.u(0.45, 0.6), 0.0, []
    centers = []
    for _ in range(balls):
        z += r
        parts.append(ball((0, 0, z), r))
        centers.append((z, r))
        z += r * 0.8
        r *= p.u(0.65, 0.8)
    hz, hr = centers[-1]
    parts.append(cone((hr * 0.9, 0, hz), (hr * 0.9 + p.u(0.2, 0.35), 0, hz - 0.02), 0.05, 10))
    if p.flag(0.7):
        top = hz + hr * 0.85
        parts.append(rod((0, 0, top - 0.02), (0, 0, top + 0.02), hr * 1.2, 20))
        parts.append(rod((0, 0, top), (0, 0, top + hr * p.u(0.6, 1.0)), hr * 0.75, 20))
    mz, mr = centers[-2]
    for s in (1, -1):
        parts.append(rod((0, s * mr * 0.8, mz), (0.1, s * (mr + 0.5), mz + p.u(0.0, 0.4)), 0.025, 6))
    return parts


def boat(p: Sampler) -> list[trimesh.Trimesh]:
    """A pointed hull, a cabin; a mast with a sail or a funnel."""
    length, width, depth = p.u(1.8, 2.4), p.u(0.5, 0.8), p.u(0.25, 0.4)
    bow = [(length / 2, 0, depth), (length / 2 - 0.2, 0, 0.02)]
    sides = [(x, s * width / 2, depth) for x in (length / 4, -length / 2) for s in (1, -1)]
    keel = [(x, s * width * 0.25, 0) for x in (length / 4, -length / 2 + 0.1) for s in (1, -1)]
    parts = [hull(bow + sides + keel)]
    cl = length * p.u(0.2, 0.35)
    parts.append(box((-length * 0.15, 0, depth + 0.15), (cl, width * 0.6, 0.3)))
    if p.flag(0.5):
        mh = p.u(1.0, 1.5)
        parts.append(rod((0.1, 0, depth), (0.1, 0, depth + mh), 0.025, 8))
        parts.append(
            hull(
                [
                    (0.12, -0.01, depth + 0.4),
                    (0.12, 0.01, depth + 0.4),
                    (0.12, 0, depth + mh),
                    (0.12 + length * 0.35, 0, depth + 0.4),
                ]
            )
        )
    else:
        parts.append(rod((-length * 0.15, 0, depth + 0.3), (-length * 0.2, 0, depth + 0.75), 0.1, 14))
    return parts


def fan(p: Sampler) -> list[trimesh.Trimesh]:
    """A desk fan: base, pole, motor housing and three to five blades."""
    pole = p.u(0.6, 1.0)
    parts = [rod((0, 0, 0), (0, 0, 0.07), p.u(0.3, 0.4), 24), rod((0, 0, 0.07), (0, 0, pole), 0.04, 10)]
    hub = np.array([0.05, 0, pole + 0.05])
    parts.append(ball(hub - _v(0.15, 0, 0), (0.2, 0.13, 0.13)))
    blades, bl = p.i(3, 5), p.u(0.4, 0.55)
    for a in np.linspace(p.u(0, 1), 2 * np.pi, blades, endpoint=False):
        blade = ball((0, bl * 0.55, 0), (0.02, bl * 0.5, bl * 0.22))
        blade.apply_transform(trimesh.transformations.rotation_matrix(a, (1, 0, 0)))
        blade.apply_translation(hub + _v(0.05, 0, 0))
        parts.append(blade)
    if p.flag(0.5):
        parts.append(ring(hub + _v(0.08, 0, 0), bl * 1.08, 0.015, axis=(1, 0, 0)))
    return parts


# Ordered most distinct first: the default preset takes the first `classes` entries.
CATALOGUE: dict[str, Builder] = {
    "airplane": airplane,
    "chair": chair,
    "table": table,
    "car": car,
    "lamp": lamp,
    "bottle": bottle,
    "mug": mug,
    "guitar": guitar,
    "tree": tree,
    "house": house,
    "bicycle": bicycle,
    "sword": sword,
    "umbrella": umbrella,
    "rocket": rocket,
    "bed": bed,
    "bookshelf": bookshelf,
    "dumbbell": dumbbell,
    "hammer": hammer,
    "monitor": monitor,
    "ladder": ladder,
    "bench": bench,
    "wineglass": wineglass,
    "mushroom": mushroom,
    "snowman": snowman,
    "boat": boat,
    "fan": fan,
}


# Where people draw some objects from: (eye azimuth in degrees, spread either side, also from the
# opposite side). Flat or long objects seen edge-on or end-on are unrecognisable; every other class is
# drawn from any azimuth.
PREFERRED_VIEWS: dict[str, tuple[float, float, bool]] = {  # a table: its rows repeat a shape by nature
    "car": (90.0, 65.0, True),
    "mug": (90.0, 70.0, True),
    "guitar": (180.0, 55.0, False),
    "house": (90.0, 70.0, False),
    "bicycle": (90.0, 60.0, True),
    "sword": (90.0, 60.0, True),
    "bookshelf": (0.0, 60.0, False),
    "dumbbell": (90.0, 60.0, True),
    "monitor": (0.0, 60.0, False),
    "ladder": (0.0, 60.0, True),
    "bench": (0.0, 60.0, True),
    "boat": (90.0, 60.0, True),
    "fan": (0.0, 70.0, False),
}


def make_shape(
    builder: Builder, rng: np.random.Generator, variant: np.ndarray | None = None
) -> trimesh.Trimesh:
    """One instance of a class in its canonical frame (z up), slightly deformed.

    A variant (derived classes) also fixes an overall stretch of the three axes (0.7..1.4).
    """
    mesh = assemble(builder(Sampler(rng, variant)))
    if variant is not None:
        mesh.vertices = mesh.vertices * (0.7 + 0.7 * variant[-3:])
    return deform(mesh, rng)
