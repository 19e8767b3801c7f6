"""pipeshield's PGD agrees with IBM ART's ``ProjectedGradientDescent`` (the reference most users
know) within 1 point of robust accuracy, on the same small digits MLP with identical settings.

ART is a test-only dependency (the ``test`` extra): outside CI a missing ART skips with the reason;
on CI (``CI=true``) it fails, because the comparison must run there.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from pipeshield.attacks.evasion import pgd

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
EPS, STEPS = (0.05, 0.1, 0.15), 10


def _art() -> None:
    try:
        import art.attacks.evasion  # noqa: F401
        import art.estimators.classification  # noqa: F401
    except ImportError as err:
        message = f"adversarial-robustness-toolbox is not importable ({err}); install the test extra"
        if IN_CI:
            pytest.fail(f"{message}; CI must provide it")
        pytest.skip(message)


def test_pgd_matches_art_within_one_point() -> None:
    _art()
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier
    from sklearn.datasets import load_digits

    torch.set_num_threads(2)
    torch.manual_seed(0)
    d = load_digits()
    x = (d.data / 16).astype(np.float32)
    y = d.target
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.tensor(x[:1400]), torch.tensor(y[:1400])
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    model.eval()  # safe: nn.Module.eval() switches to inference mode
    xs, ys = x[1400:], y[1400:]
    clf = PyTorchClassifier(
        model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(64,), nb_classes=10,
        clip_values=(0.0, 1.0),
    )
    with torch.no_grad():
        clean_ok = model(torch.tensor(xs)).argmax(1).numpy() == ys
    assert clean_ok.mean() > 0.9
    for eps in EPS:
        alpha = 2.5 * eps / STEPS
        art_pgd = ProjectedGradientDescent(
            clf, norm=np.inf, eps=eps, eps_step=alpha, max_iter=STEPS, num_random_init=0,
            batch_size=512, verbose=False,
        )
        x_art = art_pgd.generate(xs, y=ys)
        with torch.no_grad():
            r_art = float((model(torch.tensor(x_art)).argmax(1).numpy() == ys).mean())
        ours = pgd(model, xs, ys, eps=eps, steps=STEPS, step_size=alpha, clip=(0.0, 1.0))
        r_ours = float((clean_ok & ~ours.success.numpy()).mean())
        assert abs(r_ours - r_art) <= 0.01, (eps, r_ours, r_art)
        assert 0.0 < r_art < clean_ok.mean()  # a setting where the attacks can disagree
