"""Open-set identification (as in the embedded face-recognition thesis, ../shared/seeds): a gallery
of enrolled people, probes of enrolled people (other photos) and of people never enrolled.

Split (``split``), deterministic for a seed: people are sorted by name; those with at least two
images are shuffled by ``numpy.random.default_rng(seed)`` and the first ``known_fraction`` of
them are enrolled. Each enrolled person gets 1–3 gallery photos (drawn uniformly from the same
generator, never all of their photos), the first photos of a shuffle of theirs; the rest of their
photos are "known" probes. Every photo of a person not enrolled (including all single-photo
people) is an "unknown" probe.

Scoring (``identify``): a probe's score for a person is the best cosine over that person's
gallery photos (as Canaan's K210 demo keeps the best score); the probe is assigned the person
with the highest score. At threshold t a probe is accepted when its best score is strictly above t.
- FAR(t): the share of unknown probes accepted (a false alarm).
- DIR(t) (detection and identification rate): the share of known probes accepted *and* assigned
  their own identity.
``dir_at_far(f)`` uses the lowest threshold accepting at most floor(f * N_unknown) unknown probes.
"""

import numpy as np


def split(people, seed=0, known_fraction=0.5, max_enrol=3):
    """(gallery, known, unknown) from {person: [image names]}: gallery {person: [names]},
    known [(name, person)], unknown [name]."""
    rng = np.random.default_rng(seed)
    names = sorted(people)
    multi = [p for p in names if len(people[p]) >= 2]
    order = [multi[i] for i in rng.permutation(len(multi))]
    n_known = int(round(known_fraction * len(multi)))
    enrolled = sorted(order[:n_known])
    gallery, known = {}, []
    for p in enrolled:
        imgs = sorted(people[p])
        n = min(int(rng.integers(1, max_enrol + 1)), len(imgs) - 1)
        shuffled = [imgs[i] for i in rng.permutation(len(imgs))]
        gallery[p] = sorted(shuffled[:n])
        known += [(x, p) for x in sorted(shuffled[n:])]
    unknown = sorted(x for p in names if p not in gallery for x in people[p])
    return gallery, known, unknown


def _best(probe_emb, gal_emb, gal_owner, n_people):
    """(best person index, best score) per probe: max cosine over each person's gallery photos."""
    sims = np.asarray(probe_emb, np.float64) @ np.asarray(gal_emb, np.float64).T   # (P, G)
    per = np.full((sims.shape[0], n_people), -np.inf)
    for j in range(n_people):
        cols = gal_owner == j
        per[:, j] = sims[:, cols].max(axis=1)
    who = per.argmax(axis=1)
    return who, per[np.arange(len(who)), who]


def normalise(e):
    e = np.asarray(e, np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def identify(gal_emb, gal_person, known_emb, known_person, unknown_emb):
    """Best-match person and score of every known and unknown probe, and whether a known probe's
    best match is its own person."""
    people = sorted(set(gal_person))
    idx = {p: i for i, p in enumerate(people)}
    owner = np.array([idx[p] for p in gal_person])
    g = normalise(gal_emb)
    kw, ks = _best(normalise(known_emb), g, owner, len(people))
    uw, us = _best(normalise(unknown_emb), g, owner, len(people))
    correct = np.array([people[w] == p for w, p in zip(kw, known_person)], bool)
    return {"known_score": ks, "known_correct": correct, "unknown_score": us}


def dir_at_far(ident, far):
    """{"dir", "threshold", "false_alarms", "far"} at the lowest threshold accepting at most
    floor(far * N_unknown) unknown probes."""
    us = np.sort(ident["unknown_score"])[::-1]
    k = int(np.floor(far * len(us) + 1e-9))
    t = float(us[k]) if k < len(us) else float(us[-1] - 1.0)
    fa = int((us > t).sum())
    hit = ident["known_correct"] & (ident["known_score"] > t)
    return {"dir": float(hit.mean()), "threshold": t, "false_alarms": fa, "far": fa / float(len(us)),
            "unknown_probes": int(len(us))}


def evaluate(emb, people, seed=0, fars=(1e-2,)):
    """Open-set results for {name: embedding} over {person: [names]}."""
    gallery, known, unknown = split(people, seed)
    if not gallery or not known or not unknown:
        return {"error": "too few people with two or more photos for an open-set split"}
    gnames = [(x, p) for p in sorted(gallery) for x in gallery[p]]
    ident = identify([emb[x] for x, _ in gnames], [p for _, p in gnames],
                     [emb[x] for x, _ in known], [p for _, p in known], [emb[x] for x in unknown])
    out = {"seed": seed, "enrolled_people": len(gallery), "gallery_photos": len(gnames),
           "known_probes": len(known), "unknown_probes": len(unknown),
           "rank1": float(ident["known_correct"].mean())}
    out["dir_at_far"] = {"%g" % f: dir_at_far(ident, f) for f in fars}
    return out
