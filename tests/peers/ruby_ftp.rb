# Ruby's Net::FTP against a server, passive and active: binary and text
# (TYPE A) uploads and downloads, listings, file management, and STAT and
# ABOR sent as urgent data (MSG_OOB), as Net::FTP#status and #abort do.
# usage: ruby ruby_ftp.rb PORT PAYLOAD TEXT OUTDIR
require "net/ftp"
port, payload, text, out = ARGV
def same(a, b, what) = (File.binread(a) == File.binread(b)) || raise("#{what}: #{a} and #{b} differ")
[true, false].each do |passive|
  m = passive ? "p" : "a"
  ftp = Net::FTP.new("127.0.0.1", port: port.to_i, passive: passive, open_timeout: 20, read_timeout: 20)
  ftp.login
  ftp.putbinaryfile(payload, "rb-#{m}.bin")
  ftp.getbinaryfile("rb-#{m}.bin", "#{out}/rb-#{m}.bin")
  same(payload, "#{out}/rb-#{m}.bin", "getbinaryfile")
  ftp.puttextfile(text, "rb-#{m}.txt")
  ftp.gettextfile("rb-#{m}.txt", "#{out}/rb-#{m}.txt")
  same(text, "#{out}/rb-#{m}.txt", "gettextfile")
  raise "nlst: #{ftp.nlst}" unless ftp.nlst.include?("rb-#{m}.bin")
  raise "list: #{ftp.list}" unless ftp.list.any? { |l| l.end_with?(" rb-#{m}.bin") }
  facts = ftp.mlsd.find { |e| e.pathname == "rb-#{m}.bin" } or raise "mlsd lacks rb-#{m}.bin"
  raise "mlsd size #{facts.facts}" unless facts.facts["size"] == File.size(payload)
  raise "size" unless ftp.size("rb-#{m}.bin") == File.size(payload)
  ftp.mtime("rb-#{m}.bin")
  ftp.mkdir("rd-#{m}"); ftp.chdir("rd-#{m}")
  raise "pwd #{ftp.pwd}" unless ftp.pwd == "/rd-#{m}"
  ftp.chdir(".."); ftp.rmdir("rd-#{m}")
  ftp.rename("rb-#{m}.bin", "rb-#{m}.moved"); ftp.delete("rb-#{m}.moved")
  status = ftp.status
  raise "status: #{status}" unless status.start_with?("211")
  ftp.abort
  ftp.noop
  ftp.quit
  ftp.close
end
puts "ok"
