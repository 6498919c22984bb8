"""Loss functions shared by the depth papers: pure TF ops, float32 math.

Every function casts its inputs to float32 first, so bfloat16 / float16 activations from a
mixed-precision model are reduced in float32. Masks are boolean or 0/1 float tensors that
broadcast against ``pred`` (e.g. a (B, H, W, 1) mask against (B, H, W, 3) depth); a masked
mean is normalised by the number of valid elements *after* broadcasting, and a mask that
selects nothing gives 0 (not NaN), with a zero gradient.

| function | formula | source |
|---|---|---|
| lsgan_generator_loss | mean((D(fake) - 1)^2) | TS-GAN eqs. 1 and 4 (generator side); Mao et al. 2017 |
| lsgan_discriminator_loss | mean((D(real) - 1)^2) + mean(D(fake)^2) | TS-GAN eqs. 2 and 5; no 1/2 factor, as the TS-GAN code (the `paper` preset multiplies eqs. 1, 2, 4, 5 by 1/2: `TSGANConfig.gan_half`) |
| l1_loss / pixel_loss | masked mean abs(pred - target) | TS-GAN eq. 3 (teacher pixel loss) |
| cycle_loss | mean abs(real - reconstructed) | TS-GAN eq. 6 (student cycle loss) |
| identity_loss | masked mean abs | CycleGAN identity term (weight 0 in TS-GAN) |
| l2_loss | masked mean (pred - target)^2 | sparse-to-dense ``-criterion l2`` |
| berhu_loss | reverse Huber, c = 0.2 max abs(x) | sparse-to-dense ``criteria/BerHuCriterion.lua`` |
| patch_nce_loss | CE of [q.k+, q.k-] / tau, in-image negatives | CUT eqs. 2-3; Suarez eq. 6; DCLGAN eqs. 4-5 |
| dcl_similarity_loss | mean abs(H_r(real) - H_f(fake)) | SimDCL eq. 6 (mean, as its code) |
| semantic_relation_consistency_loss | JSD of patch-relation softmaxes, summed over rows | HnegSRC SRC |
| hard_negative_weights / hard_negative_dce_loss | vMF-like negative weights; decoupled CE | HnegSRC hDCE |
| FaceAreaLoss | per image: mean over the target's non-hole pixels of (p - t)^2 or abs | face enhancement Table IV's pixel set (our choice) |
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = [
    "FaceAreaLoss",
    "lsgan_generator_loss", "lsgan_discriminator_loss", "l1_loss", "pixel_loss", "cycle_loss",
    "identity_loss", "l2_loss", "berhu_loss", "masked_mean", "replica_mean",
    "replica_share",
]


def _f32(x) -> tf.Tensor:
    return tf.cast(x, tf.float32)


def _replica_sum(x):
    """Sum of ``x`` over the replicas in sync inside ``strategy.run`` (identity elsewhere)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def replica_mean(x):
    """Mean of ``x`` over the replicas in sync inside ``strategy.run`` (identity elsewhere).

    For a ``masked_mean`` result (R x this replica's sum / global count) this is the
    global-batch masked mean, the same value on every replica.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, x)


def replica_share(loss):
    """``loss / num_replicas_in_sync``: what one replica differentiates. Gradients are summed
    over the replicas, and each replica's loss here is already an estimate of the global-batch
    value (equal per-replica batches; ``masked_mean`` uses the global count), so the summed
    gradient is the one-device gradient on the global batch."""
    return loss / tf.cast(tf.distribute.get_strategy().num_replicas_in_sync, loss.dtype)


def _replica_max(x):
    """Max of the scalar ``x`` over the replicas in sync (tf.distribute has no MAX reduction:
    all-gather, then max); identity elsewhere."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return tf.reduce_max(ctx.all_gather(tf.reshape(x, [1]), axis=0))


def masked_mean(values, mask=None) -> tf.Tensor:
    """Mean of ``values`` over the elements selected by ``mask`` (float32 scalar).

    ``mask`` (bool or 0/1 float) must broadcast to ``values``' shape; it is broadcast first,
    so the denominator counts every selected element of ``values``. Masked-out elements
    are excluded with ``tf.where`` (a NaN or inf there does not leak into the result). No
    selected element -> 0.0.

    Inside ``strategy.run`` with R replicas the denominator is the count over *all*
    replicas and the result is R x (this replica's sum) / (global count): the mean of the R
    results is the global-batch masked mean, so the trainers' usual division of each loss
    by R before differentiating gives exactly the single-device gradient (a per-replica
    ratio would weight replicas with fewer valid pixels more).
    """
    values = _f32(values)
    if mask is None:
        return tf.reduce_mean(values)
    mask = _f32(mask)
    try:
        weights = tf.broadcast_to(mask, tf.shape(values))
    except (tf.errors.InvalidArgumentError, ValueError) as e:
        raise ValueError(f"mask of shape {mask.shape} does not broadcast to the loss "
                         f"shape {values.shape}") from e
    selected = weights > 0
    total = tf.reduce_sum(tf.where(selected, values * weights, 0.0))
    count = tf.reduce_sum(tf.where(selected, weights, 0.0))
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        count = _replica_sum(tf.stop_gradient(count)) / float(ctx.num_replicas_in_sync)
    return tf.math.divide_no_nan(total, count)


def _check_same_shape(pred, target, name):
    if pred.shape.rank is not None and target.shape.rank is not None:
        if not pred.shape.is_compatible_with(target.shape):
            raise ValueError(f"{name}: pred shape {pred.shape} != target shape {target.shape}")


def lsgan_generator_loss(fake_scores) -> tf.Tensor:
    """LSGAN generator loss mean((D(G(x)) - 1)^2) over every patch score and the batch.

    TS-GAN eq. 1 (teacher, D_depth) and eq. 4 (student, D_depth and D_RGB), generator side;
    least-squares GAN of Mao et al. (2017) with real label 1. ``fake_scores`` are raw
    discriminator outputs (no sigmoid), any shape.
    """
    return tf.reduce_mean(tf.square(_f32(fake_scores) - 1.0))


def lsgan_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """LSGAN discriminator loss mean((D(real) - 1)^2) + mean(D(fake)^2).

    TS-GAN eqs. 2 and 5 (discriminator side). The two terms are *summed* without the 1/2
    factor of Mao et al.: the TS-GAN code (``tf2gan/loss.get_lsgan_losses_fn``) returns the
    pair and its caller adds them. Each mean runs over all patch outputs and the batch.
    """
    real = tf.reduce_mean(tf.square(_f32(real_scores) - 1.0))
    fake = tf.reduce_mean(tf.square(_f32(fake_scores)))
    return real + fake


def l1_loss(pred, target, mask=None) -> tf.Tensor:
    """Masked mean absolute error (float32 scalar); 0 when the mask selects nothing.

    ``mask`` broadcasts to ``pred`` (e.g. (B, H, W, 1) against (B, H, W, 3)); the mean is
    over valid elements after broadcasting, so each valid pixel counts once per channel.
    Without a mask this equals Keras' ``MeanAbsoluteError`` (the TS-GAN code's L1).
    """
    pred, target = _f32(pred), _f32(target)
    _check_same_shape(pred, target, "l1_loss")
    return masked_mean(tf.abs(pred - target), mask)


def hole_tolerant_mask(valid, close_px: int = 0) -> tf.Tensor:
    """Where a masked depth L1 looks (B, H, W, C float {0, 1}). ``close_px`` 0: the valid
    pixels (holes and background unsupervised). ``close_px`` k > 0: every pixel except the
    holes *inside* the subject: the silhouette is ``valid`` closed (max-pool dilation, then
    erosion) by a k x k square, and its invalid pixels are skipped, while the background
    outside it is supervised as what the data says there (no reading = far). For depth with
    sensor dropouts on the subject and an empty background (Kinect crops, the embedded faces).
    """
    valid = tf.cast(valid, tf.float32)
    if close_px <= 0:
        return valid
    k = int(close_px)
    dilated = tf.nn.max_pool2d(valid, k, 1, "SAME")
    # erosion with the outside of the image counted as background (SAME pooling would let a
    # subject touching the border spread into the border pixels beside it)
    lo, hi = (k - 1) // 2, k // 2
    padded = tf.pad(dilated, [[0, 0], [lo, hi], [lo, hi], [0, 0]])
    closed = -tf.nn.max_pool2d(-padded, k, 1, "VALID")
    return 1.0 - closed * (1.0 - valid)


def pixel_loss(fake_depth, real_depth, mask=None) -> tf.Tensor:
    """TS-GAN eq. 3: teacher pixel loss ||G(A_t) - B_t||_1 as a (masked) mean; = ``l1_loss``."""
    return l1_loss(fake_depth, real_depth, mask)


def heatmap_loss(pred, target, foreground_weight: float = 0.0) -> tf.Tensor:
    """Weighted mean squared error of predicted maps against landmark heat maps (B, H, W, K),
    both in [-1, 1] (the heat-map regression of Tompson et al., NeurIPS 2014, on unnormalised
    Gaussians): sum(w (pred - target)^2) / sum(w) with ``w = 1 + foreground_weight x h``,
    ``h = (target + 1) / 2`` the map's [0, 1] height, so 0 is the plain mean. A point's blob
    covers a few pixels of each map, and with the plain mean a head that stays at -1
    everywhere is nearly optimal; the weight on the blobs is the Weighted Loss Map of the
    Adaptive Wing loss (Wang, Bo and Fuxin, ICCV 2019; there a weight on a dilated
    foreground mask, here on the maps' height). Under R replicas the denominator is the global
    batch's (``masked_mean``). Not a TS-GAN loss: the landmark head of
    ``TSGANConfig.lambda_landmark``."""
    pred, target = _f32(pred), _f32(target)
    _check_same_shape(pred, target, "heatmap_loss")
    if not foreground_weight >= 0:
        raise ValueError(f"heatmap_loss: foreground_weight must be >= 0, got "
                         f"{foreground_weight!r}")
    if not foreground_weight:
        return tf.reduce_mean(tf.square(pred - target))
    # masked_mean with the weights as its mask: under R replicas the weights' sum is the global
    # batch's, so the trainers' mean over replicas is the single-device weighted mean
    weight = 1.0 + float(foreground_weight) * (target + 1.0) / 2.0
    return masked_mean(tf.square(pred - target), weight)


def gradient_l1_loss(pred, target, mask=None, scales: int = 1) -> tf.Tensor:
    """Masked L1 between the finite-difference gradients of ``pred`` and ``target`` (B, H, W, C).

    The gradient term of Li & Snavely (MegaDepth, CVPR 2018, eq. 3; there on log depth with a
    scale-invariant residual) and of Hu et al. (WACV 2019, l_grad), here on the depth itself:
    sum over horizontal and vertical forward differences of |dx pred - dx target| (and dy),
    each difference counted only where both of its pixels are valid, averaged over the
    counted differences. ``scales`` > 1 repeats it on 2x2-average-pooled copies (a pooled
    pixel is valid when all four of its pixels are) and averages the scales' losses. 0 when
    nothing is valid. Not a TS-GAN loss: an option of ``TSGANConfig`` (``lambda_gradient``, off
    in every preset; BUILD_NOTES "The default data and the nose" measured it).
    """
    pred, target = _f32(pred), _f32(target)
    _check_same_shape(pred, target, "gradient_l1_loss")
    if scales < 1:
        raise ValueError(f"gradient_l1_loss: scales must be >= 1, got {scales}")
    valid = (tf.ones_like(pred[..., :1]) if mask is None
             else tf.cast(tf.cast(mask, tf.float32) > 0, tf.float32))
    per_scale = []
    for scale in range(scales):
        if scale:
            pred = tf.nn.avg_pool2d(pred, 2, 2, "VALID")
            target = tf.nn.avg_pool2d(target, 2, 2, "VALID")
            valid = tf.cast(tf.nn.avg_pool2d(valid, 2, 2, "VALID") > 0.999, tf.float32)
        residual = pred - target
        dx = tf.abs(residual[:, :, 1:] - residual[:, :, :-1])
        dy = tf.abs(residual[:, 1:] - residual[:, :-1])
        vx = tf.broadcast_to(valid[:, :, 1:] * valid[:, :, :-1], tf.shape(dx))
        vy = tf.broadcast_to(valid[:, 1:] * valid[:, :-1], tf.shape(dy))
        flat = lambda t: tf.reshape(t, [tf.shape(t)[0], -1])  # noqa: E731
        per_scale.append(masked_mean(tf.concat([flat(dx), flat(dy)], 1),
                                     tf.concat([flat(vx), flat(vy)], 1)))
    return tf.add_n(per_scale) / float(scales)


def cycle_loss(real, reconstructed, mask=None) -> tf.Tensor:
    """TS-GAN eq. 6: student cycle loss ||G_B2A(G_A2B(A_r)) - A_r||_1 as a mean; = ``l1_loss``.

    The TS-GAN code has only this A->B->A cycle (no B->A->B), weighted by lambda_cyc.
    """
    return l1_loss(reconstructed, real, mask)


def identity_loss(pred, target, mask=None) -> tf.Tensor:
    """CycleGAN identity loss ||G(y) - y||_1 as a (masked) mean; = ``l1_loss``."""
    return l1_loss(pred, target, mask)


def l2_loss(pred, target, mask=None) -> tf.Tensor:
    """Masked mean squared error (float32 scalar); 0 when the mask selects nothing."""
    pred, target = _f32(pred), _f32(target)
    _check_same_shape(pred, target, "l2_loss")
    return masked_mean(tf.square(pred - target), mask)


def berhu_loss(pred, target, mask=None, c_factor: float = 0.2) -> tf.Tensor:
    """Reverse Huber (berHu) loss of sparse-to-dense (Ma & Karaman 2018; Laina et al. 2016).

    x = pred - target; c = c_factor * max|x| over the valid elements of the *whole batch*
    (all replicas' under ``strategy.run``),
    held constant (``tf.stop_gradient``) as in ``BerHuCriterion.lua``;
    B(x) = |x| if |x| <= c else (x^2 + c^2) / (2c); the loss is the mean of B over valid
    elements (0 if none). B is continuous at |x| = c (both sides equal c) and its gradient
    is sign(x) inside, x / c outside.
    """
    if c_factor <= 0:
        raise ValueError(f"berhu_loss: c_factor must be > 0, got {c_factor}")
    pred, target = _f32(pred), _f32(target)
    _check_same_shape(pred, target, "berhu_loss")
    diff = pred - target
    absd = tf.abs(diff)
    if mask is None:
        valid = tf.ones_like(absd, dtype=tf.bool)
    else:
        valid = tf.broadcast_to(_f32(mask), tf.shape(absd)) > 0
    c = tf.stop_gradient(c_factor * _replica_max(tf.reduce_max(tf.where(valid, absd, 0.0))))
    # c == 0 only when every valid |x| is 0 (all in the linear branch); a safe divisor keeps
    # the unused quadratic branch and its gradient finite.
    c_safe = tf.where(c > 0, c, 1.0)
    per_elem = tf.where(absd <= c, absd, (tf.square(diff) + tf.square(c)) / (2.0 * c_safe))
    return masked_mean(per_elem, None if mask is None else valid)


# ----------------------------------------------------------------------------------------
# Cross-task knowledge distillation for depth super-resolution (Sun et al., CVPR 2021).
# No code was published (Sunbaoli/dsr-distillation holds none): the loss *types* are known, the exact forms are not
# (BUILD_NOTES.md lists every choice).
# ----------------------------------------------------------------------------------------

def depth_gradient_magnitude(depth, mask=None):
    """Structure target of L_struc: |grad D| by central differences, and where it is defined.

    ``depth`` (B, H, W, 1). gx[i, j] = (D[i, j+1] - D[i, j-1]) / 2 with edge replication
    (so the first/last column uses a one-sided half difference), gy likewise;
    G = sqrt(gx^2 + gy^2). Returns (G, valid): ``valid`` is ``mask`` eroded by the
    3x3 cross the stencil reads (all ones when ``mask`` is None), so a hole never produces
    a fake edge. A step of height h between columns k-1 and k gives G = h/2 at columns k-1
    and k and 0 elsewhere.
    """
    d = _f32(depth)
    p = tf.pad(d, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    gx = (p[:, 1:-1, 2:, :] - p[:, 1:-1, :-2, :]) * 0.5
    gy = (p[:, 2:, 1:-1, :] - p[:, :-2, 1:-1, :]) * 0.5
    mag = tf.sqrt(tf.square(gx) + tf.square(gy))     # a target: never differentiated
    if mask is None:
        return mag, tf.ones_like(mag, dtype=tf.bool)
    m = _f32(tf.broadcast_to(_f32(mask), tf.shape(d)))
    mp = tf.pad(m, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    valid = tf.reduce_min(tf.stack([mp[:, 1:-1, 1:-1], mp[:, 1:-1, 2:], mp[:, 1:-1, :-2],
                                    mp[:, 2:, 1:-1], mp[:, :-2, 1:-1]]), axis=0) > 0
    return mag, valid


def structure_loss(structure_map, hr_depth, mask=None) -> tf.Tensor:
    """L_struc (Sun et al. 2021, Sec. 3.3, form unverified): masked L1 between SPNet's
    structure map S and the gradient magnitude of the HR depth (``depth_gradient_magnitude``).

    The target carries no gradient. Our choice of operator (central differences) and loss
    (L1, as the task losses) is recorded in BUILD_NOTES.md.
    """
    target, valid = depth_gradient_magnitude(hr_depth, mask)
    return l1_loss(structure_map, tf.stop_gradient(target), valid)


def affinity_matrix(features, grid: int = 16) -> tf.Tensor:
    """Pairwise cosine similarity of spatially pooled features (CTKT "Affinity Comp.").

    ``features`` (B, H, W, C) are average-pooled with a k x k window and stride k,
    k = ceil(max(H, W) / grid) ('SAME' padding: edge windows average their in-image pixels),
    giving at most ``grid`` x ``grid`` positions; each of the M position vectors is
    L2-normalised over channels, and A = F F^T (B, M, M). A is symmetric with a unit
    diagonal wherever a pooled vector is non-zero. H and W must be static.
    """
    f = _f32(features)
    if f.shape.rank != 4 or f.shape[1] is None or f.shape[2] is None:
        raise ValueError(f"affinity_matrix: expected (B, H, W, C) features with a static H, W; "
                         f"got {f.shape}")
    k = -(-max(int(f.shape[1]), int(f.shape[2])) // int(grid))
    if k > 1:
        f = tf.nn.avg_pool2d(f, k, k, padding="SAME")
    b = tf.shape(f)[0]
    f = tf.reshape(f, [b, -1, f.shape[-1]])
    f = tf.math.l2_normalize(f, axis=-1, epsilon=1e-12)
    return tf.matmul(f, f, transpose_b=True)


def affinity_distillation_loss(student_features, teacher_features, grid: int = 16) -> tf.Tensor:
    """L_A (affinity space): mean squared difference of the student's and the teacher's
    affinity matrices; the teacher side is ``stop_gradient``."""
    a_s = affinity_matrix(student_features, grid)
    a_t = tf.stop_gradient(affinity_matrix(teacher_features, grid))
    return tf.reduce_mean(tf.square(a_s - a_t))


def output_distillation_loss(student_outputs, teacher_outputs, mask=None) -> tf.Tensor:
    """L_P (output space): L1 between the student's and the teacher's side-output depth maps,
    averaged over stages; the teacher side is ``stop_gradient``."""
    if len(student_outputs) != len(teacher_outputs) or not student_outputs:
        raise ValueError(f"output_distillation_loss: {len(student_outputs)} student and "
                         f"{len(teacher_outputs)} teacher side outputs")
    terms = [l1_loss(s, tf.stop_gradient(t), mask)
             for s, t in zip(student_outputs, teacher_outputs)]
    return tf.add_n(terms) / float(len(terms))


def cross_task_distillation_loss(student_outputs, teacher_outputs, student_features,
                                 teacher_features, mask=None, grid: int = 16,
                                 affinity_weight: float = 1.0) -> tf.Tensor:
    """L_distill = L_P + affinity_weight * mean_i L_A^i (Sun et al. 2021; teacher detached)."""
    lp = output_distillation_loss(student_outputs, teacher_outputs, mask)
    la = tf.add_n([affinity_distillation_loss(s, t, grid)
                   for s, t in zip(student_features, teacher_features)]) / float(len(student_features))
    return lp + affinity_weight * la


__all__ += ["depth_gradient_magnitude", "structure_loss", "affinity_matrix",
            "affinity_distillation_loss", "output_distillation_loss",
            "cross_task_distillation_loss"]


def _patch_logits(feat_q, feat_k, name: str):
    """(B, P, C) query and key features -> (positive logits (B, P, 1), all-pair logits
    (B, P, P)): q.k within each image, the keys without gradient (as in CUT)."""
    q = _f32(feat_q)
    k = tf.stop_gradient(_f32(feat_k))
    _check_same_shape(q, k, name)
    if q.shape.rank != 3:
        raise ValueError(f"{name}: features must be (B, P, C), got {q.shape}")
    return tf.reduce_sum(q * k, axis=-1, keepdims=True), tf.matmul(q, k, transpose_b=True)


def patch_nce_loss(feat_q, feat_k, temperature: float = 0.07) -> tf.Tensor:
    """PatchNCE loss (Park et al., CUT, ECCV 2020, eq. 2-3; Suarez et al. eq. 6 terms 2-3).

    ``feat_q`` and ``feat_k`` are (B, P, C) L2-normalised embeddings of the same P patch
    locations of each image: queries from the output G(x), keys from the input x. For query
    patch i of image b the positive is key i of image b and the negatives are the other P-1
    keys of the same image (CUT's default, negatives not shared across the batch). The logits
    are [q.k+, q.k-_1, ...] / temperature, with the positive at index 0 and the self-pair
    removed by setting it to -10 before the division (as in the CUT code); the loss is the
    cross-entropy with target 0, averaged over all B * P queries. The key side carries no
    gradient (``stop_gradient``), as in CUT.
    """
    l_pos, l_neg = _patch_logits(feat_q, feat_k, "patch_nce_loss")      # (B,P,1), (B,P,P)
    num_patches = tf.shape(l_neg)[1]
    diagonal = tf.eye(num_patches, dtype=tf.bool)[None]
    l_neg = tf.where(diagonal, tf.constant(-10.0, tf.float32), l_neg)
    logits = tf.concat([l_pos, l_neg], axis=-1) / float(temperature)     # (B, P, 1 + P)
    return tf.reduce_mean(-tf.nn.log_softmax(logits, axis=-1)[..., 0])


__all__ += ["patch_nce_loss"]


# ----------------------------------------------------------------------------------------
# CycleGAN depth synthesis (Suarez, Carpio, Sappa): the identity term of eq. 2.
# ----------------------------------------------------------------------------------------

def eq2_identity_loss(x, y, g1, g2, pairing: str = "target") -> tf.Tensor:
    """Suarez et al. eq. 2 (text line 52) with G1: X (gray image) -> Y (depth) and G2: Y -> X
    (line 44, eq. 1); ``g1``/``g2`` are callables, each term an L1 mean (``identity_loss``).

    ``pairing='source'``: the equation as printed, ||x - G1(x)||_1 + ||y - G2(y)||_1: each
    generator is asked to return its *input-domain* sample unchanged, which pulls G1's depth
    output towards the gray input it translates. ``'target'`` (the default): the evident
    intent, ||y - G1(y)||_1 + ||x - G2(x)||_1, each generator fed a sample of its *output*
    domain (CycleGAN's identity loss [20], which eq. 2's wording follows; line 54 speaks of
    "applying G1 to the real depth map"). DCLGAN's eq. 7 is the 'target' form.
    """
    if pairing == "target":
        return identity_loss(g1(y), y) + identity_loss(g2(x), x)
    if pairing == "source":
        return identity_loss(g1(x), x) + identity_loss(g2(y), y)
    raise ValueError(f"eq2_identity_loss: pairing must be 'target' or 'source', got "
                     f"{pairing!r}")


# ----------------------------------------------------------------------------------------
# Contrastive-translation comparison rows of Suarez et al. Table 1: SimDCL (Han et al.,
# CVPRW 2021) and HnegSRC (Jung et al., CVPR 2022, arXiv 2203.01532). The PatchNCE term they
# share is ``patch_nce_loss`` above.
# ----------------------------------------------------------------------------------------

def _unit(x, eps: float = 1e-7):
    """x / (||x||_2 + eps) over the last axis (the ``Normalize`` of the HnegSRC code)."""
    return x / (tf.norm(x, axis=-1, keepdims=True) + eps)


def dcl_similarity_loss(real_embedding, fake_embedding) -> tf.Tensor:
    """One bracket of SimDCL's similarity loss (Han et al. 2021, eq. 6):
    ||H_r(real stack) - H_f(fake stack)||_1 between two (B, D) embeddings of one domain.

    The paper writes a sum over the D = 64 entries; its code builds the criterion as
    ``torch.nn.L1Loss('sum')``, which passes 'sum' to the deprecated ``size_average``
    argument and therefore reduces by the *mean*. We follow the code: mean absolute
    difference over the batch and the D entries (the paper's sum is D times this).
    Both sides carry gradients (as in the code).
    """
    return l1_loss(fake_embedding, real_embedding)


def semantic_relation_consistency_loss(feat_q, feat_k) -> tf.Tensor:
    """SRC loss of HnegSRC (Jung et al. 2022, "SRC" regularisation; formulas from the
    authors' code jcy132/Hneg_SRC, ``SRC_Loss``).

    ``feat_q`` (B, P, C): embeddings of P patches of the output G(x); ``feat_k``: the same P
    locations of the input x (no gradient). Both are L2-normalised (x / (||x|| + 1e-7)). Per
    image the patch relation distributions are rows of softmax(F F^T) (temperature 1, the
    self-pair kept, as in the code: its column-softmax of the symmetric matrix is the same
    set of distributions); the loss is the Jensen-Shannon divergence
    JSD(p_q || p_k) = 0.5 KL(p_q || m) + 0.5 KL(p_k || m), m = (p_q + p_k) / 2, *summed* over
    the P rows (the code's ``KLDivLoss(reduction='sum')``) and averaged over the batch
    (the code stacks the whole batch into one relation matrix; with its batch 1 the two agree).
    """
    q = _unit(_f32(feat_q))
    k = _unit(tf.stop_gradient(_f32(feat_k)))
    _check_same_shape(q, k, "semantic_relation_consistency_loss")
    if q.shape.rank != 3:
        raise ValueError(f"semantic_relation_consistency_loss: features must be (B, P, C), "
                         f"got {q.shape}")
    log_pq = tf.nn.log_softmax(tf.matmul(q, q, transpose_b=True), axis=-1)
    log_pk = tf.nn.log_softmax(tf.matmul(k, k, transpose_b=True), axis=-1)
    pq, pk = tf.exp(log_pq), tf.exp(log_pk)
    log_m = tf.math.log(0.5 * (pq + pk))
    jsd = 0.5 * (tf.reduce_sum(pq * (log_pq - log_m), axis=[1, 2])
                 + tf.reduce_sum(pk * (log_pk - log_m), axis=[1, 2]))
    return tf.reduce_mean(jsd)


def hard_negative_weights(feat_k, gamma) -> tf.Tensor:
    """Negative weights of HnegSRC's hDCE (Jung et al. 2022, hard negative mining; the
    code's ``SRC_Loss`` with ``only_weight``): per image, w_ij = softmax_j(k_i . k_j / gamma)
    with the self-pair set to -10 before dividing, then each row divided by its maximum (so the hardest
    negative, the most similar source patch, gets 1). (B, P, C) -> (B, P, P), no gradient.
    Large ``gamma`` gives near-uniform weights (plain DCE); the code anneals gamma from 50 to
    10 over training (``--use_curriculum``).
    """
    k = _unit(tf.stop_gradient(_f32(feat_k)))
    if k.shape.rank != 3:
        raise ValueError(f"hard_negative_weights: features must be (B, P, C), got {k.shape}")
    sim = tf.matmul(k, k, transpose_b=True)
    diagonal = tf.eye(tf.shape(k)[1], dtype=tf.bool)[None]
    sim = tf.where(diagonal, tf.constant(-10.0, tf.float32), sim)
    w = tf.nn.softmax(sim / tf.cast(gamma, tf.float32), axis=-1)
    return tf.stop_gradient(w / tf.reduce_max(w, axis=-1, keepdims=True))


def hard_negative_dce_loss(feat_q, feat_k, weights=None, temperature: float = 0.07) -> tf.Tensor:
    """hDCE: PatchNCE with decoupled positives and weighted (hard) negatives
    (Jung et al. 2022, hDCE; the code's ``PatchHDCELoss``).

    ``feat_q``, ``feat_k`` (B, P, C) L2-normalised, keys without gradient, negatives = the
    other patches of the same image (CUT's default). For query i:
    l_i = log sum_{j != i} exp((w_ij q_i.k_j - q_i.k_i) / tau)
        = -q_i.k_i / tau + log sum_{j != i} exp(w_ij q_i.k_j / tau)
    (the decoupled contrastive loss: the positive is not in the denominator). As in the code
    the self-pair is set to -10 after weighting and stays in the sum (it adds
    exp((-10 - q_i.k_i)/tau), negligible). Returns mean_i l_i over B * P queries.

    The code returns ``exp(v - v.detach()) - 1 + CE.detach()``: the gradient of mean(v) with
    the *value* of the plain PatchNCE cross-entropy (for its logs). We return the value of
    the objective itself (same gradient); it can be negative.
    """
    l_pos, l_neg = _patch_logits(feat_q, feat_k, "hard_negative_dce_loss")
    if weights is not None:
        l_neg = l_neg * tf.stop_gradient(_f32(weights))
    diagonal = tf.eye(tf.shape(l_neg)[1], dtype=tf.bool)[None]
    l_neg = tf.where(diagonal, tf.constant(-10.0, tf.float32), l_neg)
    logits = (l_neg - l_pos) / float(temperature)
    return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=-1))


__all__ += ["dcl_similarity_loss", "semantic_relation_consistency_loss",
            "hard_negative_weights", "hard_negative_dce_loss"]


@keras.saving.register_keras_serializable(package="depthlab")
class FaceAreaLoss(keras.losses.Loss):
    """Per-image squared (``kind='mse'``) or absolute (``'l1'``) error over the target's
    non-hole pixels (``y_true < hole_value``), the pixel set of the face enhancement paper's
    Table IV RMSE. Returns one value per image (Keras then averages over the batch, which
    is replica-safe under ``tf.distribute``); an image without a face pixel gives 0.

    The paper does not give its loss. A plain MSE over all pixels also asks the network
    where the face ends inside an outline hole (target 1.0 there if background), which the
    input cannot tell; Table IV only scores face pixels, so this loss trains exactly that.
    """

    def __init__(self, kind: str = "mse", hole_value: float = 1.0, name: str = "face_area_loss",
                 **kwargs):
        if kind not in ("mse", "l1"):
            raise ValueError(f"FaceAreaLoss: kind must be 'mse' or 'l1', got {kind!r}")
        super().__init__(name=name, **kwargs)
        self.kind, self.hole_value = kind, float(hole_value)

    def call(self, y_true, y_pred):
        y_true, y_pred = _f32(y_true), _f32(y_pred)
        _check_same_shape(y_pred, y_true, "FaceAreaLoss")
        err = y_pred - y_true
        err = tf.square(err) if self.kind == "mse" else tf.abs(err)
        valid = y_true < self.hole_value
        axes = list(range(1, len(y_true.shape)))
        total = tf.reduce_sum(tf.where(valid, err, 0.0), axis=axes)
        count = tf.reduce_sum(tf.cast(valid, tf.float32), axis=axes)
        return tf.math.divide_no_nan(total, count)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "hole_value": self.hole_value}
