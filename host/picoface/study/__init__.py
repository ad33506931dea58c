"""``picoface study KIND``: a family of variants of one base model, each scored like ``picoface bench``
and training validation, written as study.json / study.md / study.png (``study.run.run_study``).

Kinds: ``quant`` (``study.quant``: number formats of one trained model), ``prune`` (``study.prune``:
unstructured pruning by the thesis's three rules, and structured channel pruning, each fine-tuned),
``width`` and ``input`` (``study.sweep``: the base config trained again at other width multipliers or input
sizes, each in its share of the budget) and ``search`` (``study.search``: a bounded grid or random sample
over width x input x anchors x head, trained the same way). The figures of a point come from
``study.score``, the table and Pareto plot from ``study.report``; finished points are kept by
``study.store`` so that ``--resume`` continues an interrupted study.
"""

KINDS = ("quant", "prune", "width", "input", "search")
