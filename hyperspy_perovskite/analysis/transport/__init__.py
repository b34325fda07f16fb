"""Electrical transport of devices: J-V figures of merit, electrical logs and
the structure-device link."""
