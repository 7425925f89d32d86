"""The live call engine (no Qt): audio, speech recognition, detectors, hints, wrap-up."""
