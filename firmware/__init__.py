"""Firmware on the site: the LC downloads a file once for every charger and serves it on the
site network (OCPP 2.0.1 L03 PublishFirmware, L04 UnpublishFirmware)."""
