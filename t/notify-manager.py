# SPDX-License-Identifier: GPL-3.0-or-later
# A stand-in for systemd's side of sd_notify(3) (t/0166): binds a Unix
# datagram socket at SOCKET and appends every datagram to LOG as one line
# (its newlines shown as "|"). On each READY=1 it connects to PORT on
# loopback at once and logs "connect ok" or "connect refused": ready must
# mean the listener accepts.
import socket
import sys

path, log, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
while True:
    data = s.recv(4096).decode("utf-8", "replace")
    with open(log, "a") as f:
        f.write(data.replace("\n", "|") + "\n")
        if "READY=1" in data.split("\n"):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                f.write("connect ok\n")
            except OSError:
                f.write("connect refused\n")
