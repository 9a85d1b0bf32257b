"""CSIRT cases: incidents that group security alerts (issue 14).

`model` (statuses, transitions, the times to acknowledge and close), `grouping` (rules as
data in grouping.yaml: which new alerts make or join which case), `playbooks` (tasks per
alert kind, playbooks/*.yaml), `observables` (IPs, users, hosts, hashes, URLs, domains
out of alerts and their events), `workflow` (the changes people and the job make, SQL in
store/cases.py) and `job` (the alert service's grouping job). Pure apart from workflow
and job.
"""
