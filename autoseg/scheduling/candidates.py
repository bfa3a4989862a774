"""Which configurations a schedule considers, and what entering each one costs.

Every configuration in plans.json is a candidate (those a search exported or a user added included), in plans
order. A cascade is honest about its price: before its own fold 0 can train, its low-resolution stage must be
trained (with validation) on every fold that holds out a training case of fold 0, because the cascade learns
from out-of-fold low-resolution predictions. Those trainings are its entry cost, paid from the exploration
share at the first rung's share r0 each. So a cascade shrinks every candidate's first share: it is admitted only
while r0 stays at least MIN_FIRST_SHARE of one planned training (below that, a first share is too short to tell
the candidates apart, and the cascade's stage models too weak to feed it); otherwise it is skipped, and
schedule.json says why. Likewise for every candidate: a first share under MIN_EXPLORE_SHARE of one planned
training is too short to tell configurations apart, so candidates are left out (last in plans order first,
never the default) until the share is long enough, and with the default alone the whole budget goes to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoseg.schema.plans import Plans
from autoseg.training.dataset import previous_stage_folds

# The first rung's share, as a fraction of one planned training, below which cascades are not considered.
MIN_FIRST_SHARE = 0.1
# ... and below which no configurations are compared at all: the budget goes to the default one (default_name).
# Measured on Hippocampus (benchmarks/scheduler/results.md): after a first share of 11% of the planned 15 minutes
# 3d_fullres scored 0.8250 and 2d 0.8176, inside the halving's tie margin, while on held-out cases 3d_fullres
# reaches 0.876 in 15 minutes and 2d 0.867 in 11.5: so short a share cannot tell them apart, yet costs a quarter of
# the budget.
MIN_EXPLORE_SHARE = 0.2
DEFAULT_ORDER = ("3d_fullres", "2d")  # nnU-Net's usual best single configuration for 3D data, then for 2D


@dataclass
class Candidate:
    name: str
    stage_folds: dict[str, list[int]] = field(default_factory=dict)  # earlier cascade stage -> folds it needs

    @property
    def entry_trainings(self) -> int:
        """Trainings of earlier stages this candidate needs before its own (each at the first rung's share)."""
        return sum(len(f) for f in self.stage_folds.values())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stage_folds": self.stage_folds}


def all_candidates(plans: Plans, splits: list[dict], requested: list[str] | None = None) -> list[Candidate]:
    """Candidates in plans order (or `requested`), each with the earlier stages and folds it needs first."""
    names = list(requested) if requested else list(plans.configurations)
    for name in names:
        plans.configuration(name)  # an unknown name is an error naming the choices
    out = []
    for name in names:
        stages: dict[str, list[int]] = {}
        folds = [0]
        previous = plans.configurations[name].previous_stage
        while previous:
            folds = previous_stage_folds(splits, folds)
            stages[previous] = folds
            previous = plans.configurations[previous].previous_stage
        out.append(Candidate(name, dict(reversed(list(stages.items())))))
    return out


def rung_cost_factor(candidates: list[Candidate], eta: int) -> float:
    """Total training of the halving, in units of the first rung's share r0: rung k trains every survivor from
    r0 * eta**(k-1) to r0 * eta**k (from 0 to r0 at k = 0), keeping ceil(n / eta) each time, until one is left;
    plus the entry trainings of cascades (r0 each)."""
    n, k, factor = len(candidates), 0, 0.0
    while n > 1:
        factor += n * (eta**k - (eta ** (k - 1) if k else 0))
        n, k = -(-n // eta), k + 1
    return factor + sum(c.entry_trainings for c in candidates)


def first_share(candidates: list[Candidate], explore: float, eta: int) -> float:
    """The first rung's share r0 when the halving of `candidates` spends `explore` in all."""
    factor = rung_cost_factor(candidates, eta)
    return explore / factor if factor else explore


def admit(
    candidates: list[Candidate], explore: float, eta: int, unit: float
) -> tuple[list[Candidate], dict[str, str], float]:
    """(admitted candidates, skipped name -> why, first rung share r0). While r0 is below MIN_FIRST_SHARE of
    `unit` (one planned training), the cascade with the most entry trainings is dropped and r0 recomputed."""
    admitted, skipped = list(candidates), {}
    while True:
        r0 = first_share(admitted, explore, eta)
        cascades = [c for c in admitted if c.entry_trainings]
        if r0 >= MIN_FIRST_SHARE * unit or not cascades:
            return admitted, skipped, r0
        worst = max(cascades, key=lambda c: c.entry_trainings)
        admitted.remove(worst)
        skipped[worst.name] = (
            f"its earlier stages need {worst.entry_trainings} trainings first "
            f"({worst.stage_folds}); with them every first share would be {r0:.1f}, under "
            f"{MIN_FIRST_SHARE:.0%} of one planned training ({unit:.1f}): give a larger budget"
        )


def default_name(candidates: list[Candidate]) -> str:
    """The configuration a budget too small to compare candidates goes to: 3d_fullres, else 2d, else the first."""
    names = [c.name for c in candidates]
    return next((n for n in DEFAULT_ORDER if n in names), names[0])


def narrow_to_comparable(
    candidates: list[Candidate], explore: float, eta: int, unit: float
) -> tuple[list[Candidate], dict[str, str], float]:
    """(candidates, skipped name -> why, first share r0): while r0 is under MIN_EXPLORE_SHARE of one planned
    training (`unit`), the last candidate in plans order other than the default is dropped and r0 recomputed;
    when only the default is left there is nothing to compare (r0 0: the whole budget goes to it)."""
    kept, skipped = list(candidates), {}
    default = default_name(candidates)
    while len(kept) > 1:
        r0 = first_share(kept, explore, eta)
        if not unit or r0 >= MIN_EXPLORE_SHARE * unit:
            return kept, skipped, r0
        dropped = next(c for c in reversed(kept) if c.name != default)
        kept.remove(dropped)
        skipped[dropped.name] = (
            f"with it every first share would be {r0:.1f}, {r0 / unit:.0%} of one planned training ({unit:.1f}): "
            f"too short to tell configurations apart; a larger total budget lets it compete"
        )
    return kept, skipped, 0.0
