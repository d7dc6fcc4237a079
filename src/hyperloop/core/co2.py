"""CO2-equivalent estimate of CPU time (SPEC §4): 20 W per core, 0.301 kgCO2eq per kWh."""

from __future__ import annotations

WATTS_PER_CORE = 20.0
KG_PER_KWH = 0.301


def co2_kg(cpu_hours: float) -> float:
    """kg CO2-eq for ``cpu_hours`` core-hours (6 t per million CPU hours)."""
    return cpu_hours * WATTS_PER_CORE / 1000.0 * KG_PER_KWH


def co2_kg_from_seconds(cpu_seconds: float) -> float:
    return co2_kg(cpu_seconds / 3600.0)
