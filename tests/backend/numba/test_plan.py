"""backend/numba/plan.py: a plan read back from its JSON is the plan written."""
import json

import pytest

import symgrad.tensor as T
from symgrad.backend.numba.plan import KernelPlan, plan_kernel
from symgrad.tensor.shape import assert_op


def test_plans_keep_their_checks():
    x, y = T.dvector("x"), T.dvector("y")
    plan = plan_kernel([x, y], [x + y, T.dot(x, y), assert_op(x, x.shape[0] > 1, "x is too short")], {})
    assert "x is too short" in plan.module.source
    assert KernelPlan.from_json(plan.to_json()) == plan


def test_plans_of_other_versions_are_refused():
    x = T.dvector("x")
    data = json.loads(plan_kernel([x], [x * 2], {}).to_json())
    data["version"] -= 1
    with pytest.raises(ValueError):
        KernelPlan.from_json(json.dumps(data))
