"""The LC's own certificates the CSMS can manage (OCPP 2.0.1 blocks A and M).

`trust_store`: the CA certificates the LC trusts (M03-M05); `handlers`: the CSMS's calls on it;
`own_identity` and `renewal`: the LC's charging-station certificate and its renewal (A02/A03).
"""
