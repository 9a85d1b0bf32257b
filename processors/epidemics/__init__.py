"""Weekly case counts per commune and disease: parsing, seasonal baselines, the
epidemic.* rules (processors/environment/rules/epidemics.yaml) and the service that
stores a report and raises its alerts in one transaction. Pure apart from service.py;
SQL in store/epidemics.py."""
