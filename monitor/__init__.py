"""ctmonitor: fetch tracked ClinicalTrials.gov trials, keep every version, alert on real changes."""

__version__ = "0.1.0"
