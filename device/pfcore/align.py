"""Face alignment from 5 landmarks: a similarity transform to a template, and a small warp.

Landmark order (as seen in the image): left eye, right eye, nose tip, left mouth corner, right
mouth corner, each an (x, y) pair in pixels.

Template: the 5-point template of ArcFace / InsightFace for 112x112 crops (insightface
``arcface_dst``, also the one Canaan's K210 face-recognition demo scales by 64/112, see
../shared/anchors/k210_canmv_face_recog/SOURCE.md), scaled uniformly by size/112 for a square
output of ``size`` pixels. ``template(size)`` returns it as float pairs (no truncation; Canaan's
demo truncates to integers, which costs up to 1 px at 64x64).

``similarity(src, dst)`` is the least-squares similarity (uniform scale, rotation, translation)
mapping src points onto dst points: Umeyama's estimate restricted to proper rotations (no
reflection). In 2-D it has a closed form, no SVD needed: with centred points a_i, b_i,
p = sum(a.b), q = sum(a x b), v = sum(|a|^2), the linear part is [[p/v, -q/v], [q/v, p/v]]
(scale sqrt(p^2+q^2)/v, angle atan2(q, p)). The result is a 2x3 matrix [[m00, m01, m02],
[m10, m11, m12]] of Python floats mapping source pixels to output pixels, the convention of
cv2.warpAffine, so the host warps with cv2 and the board with ``warp`` below using the same
matrix.

``warp(src, sw, sh, ch, m, dw, dh)`` fills a dw x dh x ch bytearray (interleaved, row-major)
from a sw x sh x ch bytes-like image: each output pixel maps back through the inverse of m;
"bilinear" (default) or "nearest" sampling; pixels whose neighbours fall outside the source
count as 0 (cv2.BORDER_CONSTANT with value 0). Source positions are computed as OpenCV's
warpAffine does (fixed point: 1/1024 px, split into a per-row and a per-column term, then 1/32 px
for bilinear weights, nearest rounds at 1/1024), so the two agree within one grey level.
Pure Python, MicroPython 1.11 compatible.
"""

# insightface arcface_dst: 5 points in a 112x112 crop
ARCFACE_112 = (
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
)


def template(size):
    """The 5-point template for a square output of ``size`` pixels (ArcFace 112 scaled)."""
    if size <= 0:
        raise ValueError("template size must be positive")
    f = float(size) / 112.0
    return [(x * f, y * f) for x, y in ARCFACE_112]


def similarity(src, dst):
    """2x3 least-squares similarity (no reflection) mapping points src onto dst."""
    n = len(src)
    if n != len(dst):
        raise ValueError("similarity needs as many source as destination points")
    if n < 2:
        raise ValueError("similarity needs at least 2 points")
    sx = sy = dx = dy = 0.0
    for i in range(n):
        sx += src[i][0]
        sy += src[i][1]
        dx += dst[i][0]
        dy += dst[i][1]
    sx /= n
    sy /= n
    dx /= n
    dy /= n
    p = q = v = 0.0
    for i in range(n):
        ax = src[i][0] - sx
        ay = src[i][1] - sy
        bx = dst[i][0] - dx
        by = dst[i][1] - dy
        p += ax * bx + ay * by
        q += ax * by - ay * bx
        v += ax * ax + ay * ay
    if v <= 0.0:
        raise ValueError("similarity: the source points all coincide")
    a = p / v
    b = q / v
    tx = dx - (a * sx - b * sy)
    ty = dy - (b * sx + a * sy)
    return [[a, -b, tx], [b, a, ty]]


def align_matrix(landmarks, size):
    """2x3 matrix taking an image with these 5 landmarks to a size x size aligned face."""
    if len(landmarks) != 5:
        raise ValueError("alignment needs 5 landmarks, got %d" % len(landmarks))
    return similarity(landmarks, template(size))


def invert(m):
    """Inverse of a 2x3 affine matrix (as a 2x3 matrix of floats)."""
    a, b, c = m[0][0], m[0][1], m[0][2]
    d, e, f = m[1][0], m[1][1], m[1][2]
    det = a * e - b * d
    if det == 0.0:
        raise ValueError("the affine matrix is singular")
    ia = e / det
    ib = -b / det
    id_ = -d / det
    ie = a / det
    return [[ia, ib, -(ia * c + ib * f)], [id_, ie, -(id_ * c + ie * f)]]


def apply(m, x, y):
    """The point (x, y) mapped by the 2x3 matrix m."""
    return (m[0][0] * x + m[0][1] * y + m[0][2], m[1][0] * x + m[1][1] * y + m[1][2])


def _floor(v):
    i = int(v)
    if i > v:
        i -= 1
    return i


def _round(v):
    return _floor(v + 0.5)


def warp(src, sw, sh, ch, m, dw, dh, mode="bilinear"):
    """dw x dh x ch bytearray: src (sw x sh x ch, interleaved) warped by the 2x3 matrix m."""
    if mode not in ("bilinear", "nearest"):
        raise ValueError("warp mode must be 'bilinear' or 'nearest'")
    if len(src) < sw * sh * ch:
        raise ValueError("source buffer is smaller than %dx%dx%d" % (sw, sh, ch))
    inv = invert(m)
    a, b, c = inv[0][0], inv[0][1], inv[0][2]
    d, e, f = inv[1][0], inv[1][1], inv[1][2]
    # source positions in 1/1024 px, split into a per-column and a per-row part (as OpenCV)
    ax = [_round(a * u * 1024.0) for u in range(dw)]
    dx = [_round(d * u * 1024.0) for u in range(dw)]
    bilinear = mode == "bilinear"
    half = 16 if bilinear else 512
    out = bytearray(dw * dh * ch)
    row = sw * ch
    o = 0
    for v in range(dh):
        x_row = _round((b * v + c) * 1024.0) + half
        y_row = _round((e * v + f) * 1024.0) + half
        for u in range(dw):
            if not bilinear:
                xi = (x_row + ax[u]) >> 10
                yi = (y_row + dx[u]) >> 10
                if 0 <= xi < sw and 0 <= yi < sh:
                    s = yi * row + xi * ch
                    for k in range(ch):
                        out[o + k] = src[s + k]
            else:
                xq = (x_row + ax[u]) >> 5   # 1/32 px
                yq = (y_row + dx[u]) >> 5
                x0 = xq >> 5
                y0 = yq >> 5
                if -1 <= x0 < sw and -1 <= y0 < sh:
                    fx = (xq & 31) / 32.0
                    fy = (yq & 31) / 32.0
                    w00 = (1.0 - fx) * (1.0 - fy)
                    w01 = fx * (1.0 - fy)
                    w10 = (1.0 - fx) * fy
                    w11 = fx * fy
                    in_x0 = x0 >= 0
                    in_x1 = x0 + 1 < sw
                    in_y0 = y0 >= 0
                    in_y1 = y0 + 1 < sh
                    s = y0 * row + x0 * ch
                    for k in range(ch):
                        acc = 0.0
                        if in_y0:
                            if in_x0:
                                acc += w00 * src[s + k]
                            if in_x1:
                                acc += w01 * src[s + ch + k]
                        if in_y1:
                            if in_x0:
                                acc += w10 * src[s + row + k]
                            if in_x1:
                                acc += w11 * src[s + row + ch + k]
                        q = int(acc + 0.5)
                        out[o + k] = 255 if q > 255 else q
            o += ch
    return out
