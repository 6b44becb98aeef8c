"""Looking inside built images without Apptainer: inspect, verify, and inspect-metadata.json."""
