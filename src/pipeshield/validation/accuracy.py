"""Clean accuracy of each model on its test set, with the generalisation gap beside it.

The gap between train and test accuracy is what membership-inference attacks feed on; it is
reported here so a reader sees it next to accuracy, and measured properly by the membership checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import DatasetError

__all__ = ["AccuracyResult", "CleanAccuracy", "evaluate_accuracy"]


class AccuracySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_accuracy: float | None = Field(None, ge=0, le=1, description="fail below this test accuracy")
    max_generalization_gap: float = Field(0.1, ge=0, le=1, description="warn above this train-test gap")
    severity: Severity = Field(Severity.HIGH, description="severity when accuracy is below min")


@dataclass(frozen=True)
class AccuracyResult:
    accuracy: float
    balanced_accuracy: float
    recall: np.ndarray
    confusion: np.ndarray
    non_finite_outputs: int


def evaluate_accuracy(probs: np.ndarray, y: np.ndarray, classes: np.ndarray, where: str) -> AccuracyResult:
    """Accuracy, balanced accuracy, per-class recall and the confusion matrix."""
    classes = np.asarray(classes)
    index = {c.item() if hasattr(c, "item") else c: i for i, c in enumerate(classes)}
    unknown = sorted({v.item() if hasattr(v, "item") else v for v in np.unique(y)} - set(index))
    if unknown:
        raise DatasetError(
            f"{where}: labels {unknown[:5]} are not among the model's classes "
            f"({', '.join(map(str, classes[:12]))})",
            hint="is test_data the right dataset for this model?",
        )
    truth = np.asarray([index[v.item() if hasattr(v, "item") else v] for v in y])
    finite = np.isfinite(probs).all(axis=1)
    pred = np.where(finite, np.nan_to_num(probs).argmax(axis=1), -1)
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    ok = pred >= 0
    np.add.at(confusion, (truth[ok], pred[ok]), 1)
    support = confusion.sum(axis=1) + np.bincount(truth[~ok], minlength=k)
    recall = np.divide(np.diag(confusion), support, out=np.zeros(k), where=support > 0)
    present = support > 0
    return AccuracyResult(
        accuracy=float((pred == truth).mean()) if len(truth) else float("nan"),
        balanced_accuracy=float(recall[present].mean()) if present.any() else float("nan"),
        recall=recall,
        confusion=confusion,
        non_finite_outputs=int((~finite).sum()),
    )


class CleanAccuracy(Check):
    id = "validation.clean-accuracy"
    title = "Clean accuracy on the test set"
    stage = Stage.VALIDATION
    threat = Threat.GOVERNANCE
    description = "Accuracy of each model on its test dataset: the baseline for every attack."
    remediation = (
        "Retrain or recalibrate before release; investigate the classes with the lowest recall and "
        "whether the training data was poisoned or mislabelled."
    )
    Settings = AccuracySettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        model = pipeline.models[subject]
        if model.test_data is None:
            return f"models.{subject} has no test_data"
        if pipeline.datasets[model.test_data].label is None:
            return f"datasets.{model.test_data} has no label column"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        settings: AccuracySettings = ctx.settings
        spec = ctx.pipeline.models[subject]
        assert spec.test_data is not None
        test = ctx.dataset(spec.test_data)
        assert test.y is not None
        target = ctx.target(subject)
        probs = target.predict_proba(test.x)
        classes = target.classes if target.classes is not None and len(target.classes) else np.arange(probs.shape[1])
        where = f"models.{subject} on datasets.{spec.test_data}"
        result = evaluate_accuracy(probs, test.y, classes, where)
        acc = round(result.accuracy, 6)
        metrics: dict[str, float | int | str | bool | None] = {
            "accuracy": acc,
            "balanced_accuracy": round(result.balanced_accuracy, 6),
            "n_test": len(test),
            "n_classes": len(classes),
            "non_finite_outputs": result.non_finite_outputs,
        }
        gap: float | None = None
        train_acc: float | None = None
        if spec.train_data is not None and ctx.pipeline.datasets[spec.train_data].label is not None:
            train = ctx.dataset(spec.train_data)
            assert train.y is not None
            train_acc = round(evaluate_accuracy(target.predict_proba(train.x), train.y, classes, where).accuracy, 6)
            gap = round(train_acc - acc, 6)
            metrics["train_accuracy"] = train_acc
            metrics["generalization_gap"] = gap
        labels = [str(c) for c in classes]
        evidence = (
            Evidence(
                "plot",
                "Confusion matrix (rows: true class, columns: predicted)",
                data={"type": "heatmap", "x": labels, "y": labels, "values": result.confusion.tolist()},
            ),
            Evidence(
                "plot",
                "Recall per class",
                data={"type": "bar", "x": labels, "values": [round(float(r), 4) for r in result.recall], "max": 1.0},
            ),
        )
        settings_used = {"min_accuracy": settings.min_accuracy, "max_generalization_gap": settings.max_generalization_gap}
        common = {
            "subject": subject,
            "metrics": metrics,
            "settings": settings_used,
            "evidence": evidence,
            "locations": (ctx.pipeline.display(spec.path),),
        }
        if result.non_finite_outputs:
            yield self.finding(
                Status.FAIL,
                severity=Severity.HIGH,
                message=f"{result.non_finite_outputs} of {len(test)} test outputs are NaN or infinite",
                **common,
            )
            return
        if settings.min_accuracy is not None and acc < settings.min_accuracy:
            yield self.finding(
                Status.FAIL,
                severity=settings.severity,
                message=f"test accuracy {acc:.4f} is below the policy minimum {settings.min_accuracy}",
                **common,
            )
            return
        if gap is not None and gap > settings.max_generalization_gap:
            yield self.finding(
                Status.WARN,
                severity=Severity.MEDIUM,
                message=(
                    f"test accuracy {acc:.4f}, train accuracy {train_acc:.4f}: a gap of "
                    f"{gap:.3f} signals overfitting, which membership-inference attacks exploit"
                ),
                remediation="Regularise (early stopping, weight decay, smaller trees) or train with "
                "differential privacy; then measure membership leakage.",
                **common,
            )
            return
        threshold = "no minimum set in policy" if settings.min_accuracy is None else f"minimum {settings.min_accuracy}"
        yield self.finding(Status.PASS, message=f"test accuracy {acc:.4f} ({threshold})", **common)
