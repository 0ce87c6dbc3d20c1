"""aioftp's client (asyncio; passive only) against a server: upload,
download, listing, stat, folders, rename, remove.
usage: python3 aioftp_client.py PORT PAYLOAD"""
import asyncio, io, sys
import aioftp

async def main(port, payload_path):
    payload = open(payload_path, "rb").read()
    async with aioftp.Client.context("127.0.0.1", int(port), "anonymous", "x@",
                                     socket_timeout=20) as c:
        async with c.upload_stream("aio.bin") as stream:
            await stream.write(payload)
        got = bytearray()
        async with c.download_stream("aio.bin") as stream:
            async for block in stream.iter_by_block():
                got += block
        assert bytes(got) == payload, "download differs"
        names = {str(p): info for p, info in await c.list()}
        assert names["aio.bin"]["type"] == "file" and int(names["aio.bin"]["size"]) == len(payload), names
        info = await c.stat("aio.bin")
        assert int(info["size"]) == len(payload), info
        await c.make_directory("aio-dir")
        await c.change_directory("aio-dir")
        assert str(await c.get_current_directory()) == "/aio-dir"
        await c.change_directory("..")
        await c.remove_directory("aio-dir")
        await c.rename("aio.bin", "aio.moved")
        assert await c.exists("aio.moved") and not await c.exists("aio.bin")
    print("ok")

asyncio.run(main(*sys.argv[1:]))
