"""Face attributes (smiling, age, glasses, ...): the classifier that finds named edit directions."""
from .classifier import LABELS, NAMED, AttributeClassifier, load_classifier

__all__ = ["LABELS", "NAMED", "AttributeClassifier", "load_classifier"]
