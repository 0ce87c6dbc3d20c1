"""An aioftp server (no active mode, no NLST) on a free port, anonymous and
read-write, serving ROOT; prints its port, then runs until killed.
usage: python3 aioftp_server.py ROOT"""
import asyncio, sys
import aioftp

async def main(root):
    user = aioftp.User(base_path=root, permissions=[aioftp.Permission("/", readable=True, writable=True)])
    server = aioftp.Server([user], socket_timeout=20)
    await server.start("127.0.0.1", 0)
    print(server.address[1], flush=True)
    await server.serve_forever()

asyncio.run(main(sys.argv[1]))
