"""Real-shaped lines of the web_access, proxy_access and auditd formats, and token
strategies for fuzzing them (used by test_format_fuzz.py and the tests of each format)."""

from __future__ import annotations

from hypothesis import strategies as st

WEB_LINES = [
    '203.0.113.7 - - [03/Dec/2026:10:00:00 +0700] "GET /index.php?id=1 HTTP/1.1" 200 512 '
    '"-" "Mozilla/5.0 (X11; Linux x86_64)"',
    'portal.example.vn:443 198.51.100.4 - alice [03/Dec/2026:10:00:01 +0700] "POST /login '
    'HTTP/2.0" 302 0 "https://portal.example.vn/" "Mozilla/5.0" "10.0.0.9"',
    '2001:db8::7 - - [03/Dec/2026:10:00:02 +0000] "\\x16\\x03\\x01\\x00\\xa5" 400 157 "-" "-"',
    '203.0.113.7 - - [03/Dec/2026:10:00:03 +0700] "GET / HTTP/1.0" 200 -',
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\n"
    "2026-12-03 03:00:00 10.0.0.5 GET /default.aspx q=1 443 - 198.51.100.9 "
    "Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 15",
    "2026-12-03 03:00:00 10.0.0.5 GET /default.aspx - 443 - 198.51.100.9 curl/8.0 - 404 0 2 1",
    "<190>Dec  3 10:00:00 web01 nginx: 203.0.113.7 - - [03/Dec/2026:10:00:00 +0700] "
    '"GET /.git/config HTTP/1.1" 404 0 "-" "curl/8.0"',
    '{"message":"203.0.113.7 - - [03/Dec/2026:10:00:00 +0700] \\"GET / HTTP/1.1\\" 200 5 '
    '\\"-\\" \\"x\\"","log":{"file":{"path":"/var/log/apache2/access.log"}}}',
]

PROXY_LINES = [
    "1796270400.123    456 10.1.2.3 TCP_MISS/200 1234 GET http://example.com/a?b=1 alice "
    "HIER_DIRECT/93.184.216.34 text/html",
    "1796270400.123      0 10.1.2.3 TCP_DENIED/403 3900 CONNECT evil.example:443 - "
    "HIER_NONE/- text/html",
    '10.1.2.3 - - [03/Dec/2026:10:00:00 +0700] "GET http://x.example/a.exe HTTP/1.1" 200 100 '
    '"-" "Microsoft BITS/7.8" TCP_MISS:HIER_DIRECT',
    "<166>Dec  3 10:00:00 proxy01 squid[123]: 1796270400.123    456 10.1.2.3 TCP_MISS/200 "
    "1234 GET http://a.example/ - HIER_DIRECT/1.1.1.1 text/html",
]

AUDITD_LINES = [
    "type=SYSCALL msg=audit(1796270400.123:4567): arch=c000003e syscall=59 success=yes "
    "exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=1200 pid=1234 auid=1000 uid=0 gid=0 "
    'euid=0 tty=pts0 ses=3 comm="ls" exe="/usr/bin/ls" key=(null)\x1dARCH=x86_64 '
    'SYSCALL=execve AUID="alice" UID="root"\n'
    'type=EXECVE msg=audit(1796270400.123:4567): argc=2 a0="ls" a1=2F746D702F612062\n'
    'type=CWD msg=audit(1796270400.123:4567): cwd="/root"\n'
    'type=PATH msg=audit(1796270400.123:4567): item=0 name="/usr/bin/ls" nametype=NORMAL\n'
    "type=PROCTITLE msg=audit(1796270400.123:4567): proctitle=6C73002F746D702F612062\n"
    "type=EOE msg=audit(1796270400.123:4567): ",
    "node=db01 type=SERVICE_STOP msg=audit(1796270400.200:4600): pid=1 uid=0 auid=4294967295 "
    'ses=4294967295 msg=\'unit=nginx comm="systemd" exe="/usr/lib/systemd/systemd" '
    "hostname=? addr=? terminal=? res=success'",
    "<14>Dec  3 10:00:00 web01 audisp-syslog: type=USER_LOGIN msg=audit(1796270400.300:4700): "
    'pid=9 uid=0 auid=1000 ses=5 msg=\'op=login acct="alice" exe="/usr/sbin/sshd" '
    "hostname=? addr=203.0.113.7 terminal=sshd res=failed'",
    'audit: type=1309 audit(1796270400.400:4800): argc=3 a0="tar" a1="-czf" a2[0]=2F61 a2[1]=2F62',
]

web_tokens = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        [" ", "-", '"', '\\"', "\\x1b", "[", "]", "03/Dec/2026:10:00:00 +0700",
         "31/Feb/2026:10:00:00 +0700", "99/Zzz/0000:99:99:99 +9999", "GET ", "HTTP/1.1",
         "200", "999", "-1", "203.0.113.7", "2001:db8::1", "#Fields: ", "#Fields: date time",
         "2026-12-03 03:00:00 ", "1970-01-01 00:00:00 ", "+", "%2B", "\n", "\r\n", "\x00",
         "\ufeff", "{", '{"message":', "<190>", "http://", "CONNECT ", "TCP_MISS/200 ",
         "1796270400.123 ", "9999999999.999 ", ":443", "?", "#"]
    ),
)  # fmt: skip

auditd_tokens = st.one_of(
    st.text(max_size=8),
    st.sampled_from(
        ["type=", "SYSCALL", "EXECVE", "PATH", "EOE", "1300", "node=", " msg=audit(",
         "1796270400.123:4567): ", "99999999999999.1:1): ", "0:0): ", "a0=", "a1[0]=",
         "a1[99]=", "argc=", "99999999", "414243", "4", "GG", '"', "'", "=", " ",
         "\x1d", "\x1dSYSCALL=execve", "msg='", "(null)", "?", "syscall=59", "arch=c000003e",
         "name=", "proctitle=", "00", "\n", "\r\n", "\x00", "<14>", "audit: ", "{"]
    ),
)  # fmt: skip
