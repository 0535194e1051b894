"""GPS beacons: ping decoding and validation, beacon state."""
