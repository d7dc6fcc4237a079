"""CO2-equivalent estimates of CPU time (SPEC §4) and the comparison with flights, as the
original Hyperloop shows them (its "CO2 equivalent estimates" page). Every factor is here.

* 10 W per core of power, doubled for the embodied emissions of the machines (50/50 split):
  **20 W per core**;
* **0.301 kg CO2-eq per kWh** (an average emission factor of electricity);
* so **6 t per million CPU hours** and **1 CPU year (8766 h) ≈ 52.8 kg** (the original
  page writes 53.3 kg for the same factors);
* data transfer, storage and central infrastructure are not counted;
* a comparison everybody knows: one passenger's **flight Geneva–New York** (one way, economy)
  at about **1 t CO2-eq** (an order of magnitude: the original takes flight figures from
  curb6.com; calculators give 0.5-1.5 t for this route depending on how they count
  non-CO2 effects).

These are the collaboration's documented conventions, not something to tune per
installation, so they are constants rather than settings.
"""

from __future__ import annotations

WATTS_PER_CORE = 20.0  # 10 W power + 10 W embodied emissions
KG_PER_KWH = 0.301  # kg CO2-eq per kWh of electricity
HOURS_PER_CPU_YEAR = 8766.0  # 365.25 days
FLIGHT_ROUTE = "Geneva–New York"
KG_PER_FLIGHT = 1000.0  # one passenger, one way, economy (order of magnitude)

FACTORS = {
    "watts_per_core": WATTS_PER_CORE,
    "kg_per_kwh": KG_PER_KWH,
    "kg_per_million_cpu_hours": 1e6 * WATTS_PER_CORE / 1000.0 * KG_PER_KWH,
    "kg_per_cpu_year": HOURS_PER_CPU_YEAR * WATTS_PER_CORE / 1000.0 * KG_PER_KWH,
    "flight_route": FLIGHT_ROUTE,
    "kg_per_flight": KG_PER_FLIGHT,
}


def co2_kg(cpu_hours: float) -> float:
    """kg CO2-eq for ``cpu_hours`` core-hours (6 t per million CPU hours)."""
    return cpu_hours * WATTS_PER_CORE / 1000.0 * KG_PER_KWH


def co2_kg_from_seconds(cpu_seconds: float) -> float:
    return co2_kg(cpu_seconds / 3600.0)


def flights(kg: float) -> float:
    """How many one-way Geneva–New York flights (one passenger) emit ``kg`` CO2-eq."""
    return kg / KG_PER_FLIGHT


def flights_text(kg: float) -> str:
    """``"≈ 2.4 flights Geneva–New York"`` (``"≈ 0.05 flights …"`` for small amounts)."""
    n = flights(kg)
    if n < 0.01:  # a test-sized amount: no scientific notation for a comparison
        return f"< 0.01 flights {FLIGHT_ROUTE}"
    shown = f"{n:.2g}" if n < 10 else f"{n:,.0f}"
    return f"≈ {shown} flight{'' if shown == '1' else 's'} {FLIGHT_ROUTE}"


def estimate(cpu_seconds: float | None) -> dict[str, float | str | None]:
    """The estimate of a CPU time as pages and the API show it (None: no CPU time known)."""
    if cpu_seconds is None:
        return {"cpu_hours": None, "co2_kg": None, "flights": None, "flights_text": None}
    kg = co2_kg_from_seconds(cpu_seconds)
    return {
        "cpu_hours": cpu_seconds / 3600.0,
        "co2_kg": kg,
        "flights": flights(kg),
        "flights_text": flights_text(kg),
    }
