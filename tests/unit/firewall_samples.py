"""Firewall lines and tokens for the format-shaped fuzzing of the `firewall` format
(tests/unit/test_format_fuzz.py): one real-shaped line per vendor and form, and the
pieces a mutation splices in."""

from __future__ import annotations

from hypothesis import strategies as st

FIREWALL_LINES = [
    '<189>date=2026-11-24 time=08:00:00 devname="FGT-HQ" devid="FG100F" tz="+0700" '
    'logid="0000000013" type="traffic" subtype="forward" srcip=10.10.1.20 srcport=51234 '
    'dstip=203.0.113.80 dstport=443 proto=6 action="close" policyid=12 policyname="a b" '
    "sentbyte=1200 rcvdbyte=5300 duration=5",
    '<189>date=2026-11-24 time=08:00:00 logid="0100044547" type="event" subtype="system" '
    'user="admin" action="Add" cfgpath="system.admin" cfgobj="x" msg="Add system.admin x"',
    "<166>Nov 24 2026 08:00:00 fw : %ASA-6-302013: Built outbound TCP connection 1 for "
    "outside:203.0.113.80/443 (203.0.113.80/443) to inside:10.10.1.20/51234 "
    "(198.51.100.10/40123)(CORP\\a)",
    "<164>Nov 24 08:00:00 fw %ASA-4-106023: Deny tcp src outside:203.0.113.7/4444 dst "
    'inside:10.0.0.1/23 by access-group "outside_in" [0x0, 0x0]',
    "%ASA-5-111010: User 'a', running 'CLI' from IP 10.0.0.5, executed 'clear logging'",
    "<14>Nov 24 08:00:00 PA 1,2026/11/24 08:00:00,0123,TRAFFIC,end,2561,2026/11/24 08:00:00,"
    "10.10.1.20,203.0.113.80,0.0.0.0,0.0.0.0,allow-web,,,ssl,vsys1,trust,untrust,e1/2,e1/1,"
    "fwd,2026/11/24 08:00:00,1,1,51234,443,0,0,0x0,tcp,allow,5120,1200,3920,20",
    "1,2026/11/24 08:00:00,0123,THREAT,url,2561,2026/11/24 08:00:00,1.2.3.4,5.6.7.8,,,r,,,"
    'web,vsys1,a,b,c,d,e,,1,1,1,80,0,0,0x0,tcp,block-url,"x.vn/a,b",(9999),any,high',
    "<134>Nov 24 08:00:00 pf filterlog[1]: 5,,,1000000103,igb0,match,block,in,4,0x0,,64,1,0,"
    "DF,6,tcp,60,203.0.113.5,10.0.0.1,51234,23,0,S,1,,64240,,mss",
    "<134>1 2026-11-24T08:00:00+07:00 pf filterlog 1 - - 80,,,17,igb1,match,pass,out,6,0x00,"
    "0x00000,64,udp,17,48,2001:db8::5,2001:db8:1::53,53211,53,40",
    "CEF:0|Fortinet|Fortigate|v7.2|44547|event:system cfg|3|FTNTFGTlogid=0100044547 "
    "cat=event:system act=Add FTNTFGTcfgpath=firewall.policy duser=admin",
    "CEF:0|Palo Alto Networks|PAN-OS|10.2|end|TRAFFIC|1|src=1.2.3.4 dst=5.6.7.8 spt=1 dpt=2 "
    "cs1Label=Rule cs1=r act=allow in=1 out=2",
]
firewall_tokens = st.one_of(
    st.sampled_from(
        [
            " ", "=", '"', '\\"', ",", ":", "/", "(", ")", "<", ">", "|", "%ASA-6-302013: ",
            "%FTD-4-106023: ", "CEF:0|", "logid=", "type=", "date=", "time=", "tz=", "filterlog:",
            "TRAFFIC", "THREAT", "CONFIG", "action=deny", "srcip=", "999.1.1.1", "::", "65536",
            "-1", "eventtime=99999999999999999999", "Nov 31 2026 25:61:61 ", "\x00", "\x1b[",
        ]
    ),
    st.text(max_size=8),
)  # fmt: skip
