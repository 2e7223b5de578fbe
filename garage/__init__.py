"""The simulated garage: a CSMS, OCPP charge points with cars, and a site meter, for the load
balancer's integration tests and the `demo` command.

- `garage.csms.SimulatedCsms`: a CSMS that accepts every charger (OCPP 1.6 and 2.0.1).
- `garage.charge_point.SimulatedChargePoint`: one charger with one EVSE and a car that follows
  the charging profiles it was given, late by a reaction delay, as real ones do.
- `garage.site.SimulatedSite`: the grid connection, summing base load and chargers phase by phase
  into a `modbus.simulator.SimulatedMeter`.

The OCPP rules that decide a charger's limit from its profiles (`ocpp_knowledge.composite`)
are the product's own: the garage imports them, so both apply the same rules.
"""
