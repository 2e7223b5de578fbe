"""The LC's own OCPP identity at the CSMS (OCPP 2.0.1 Part 4 §6.2).

`station.session.StationSession` is the protocol, sans-I/O; `station.link.StationLink` keeps
the WebSocket to the CSMS up and pumps text and time through it.

Extension point: CSMS→LC calls are answered from the table `StationLink.handlers`, action ->
`handler(payload) -> response payload` (a plain or an async function). Register one with
`StationLink.register(action, handler)`; lc/app.py registers the LC's own (the device model:
GetVariables, SetVariables, GetBaseReport, GetReport, in station.device_model_calls; the
site limit: SetChargingProfile, GetChargingProfiles, ClearChargingProfile, GetCompositeSchedule,
in station.site_limit).

The session speaks 2.0.1 or 1.6J: one workflow, the version's wording as data in
`station.dialect`. Towards a 1.6 CSMS the same device model answers GetConfiguration and
ChangeConfiguration (station.configuration_keys) and the same site-limit rules answer 1.6's
charging-profile calls (station.site_limit_v16).
The session checks the request against the official schema before a handler sees it and the
response before it is sent (a response that fails the check goes out as an InternalError
CALLERROR, as does a handler's exception); an action without a handler is answered
NotSupported. TriggerMessage is answered by the session itself: what it may trigger depends
on the boot state. A message another part of the LC sends is made triggerable with
`StationLink.on_trigger(requested message, sender)`: after the Accepted answer the sender
(a coroutine function) runs and sends it with `call`.

A handler that promises messages after its answer (a GetBaseReport's NotifyReports) hands
them to `StationLink.after_answer(coroutine function)`: they start once the answer is queued.

A handler, or any other part of the LC, sends the LC's own CALLs with
`await StationLink.call(action, payload)`, which returns the CSMS's response payload or raises
`StationCallFailed` (CALLERROR, invalid answer, timeout, link lost). Calls are queued: one is
outstanding at a time (OCPP-J), and none but BootNotification and what the CSMS triggered is
sent before the CSMS has Accepted the LC's boot.
"""
