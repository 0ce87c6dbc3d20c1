# Perl's Net::FTP (libnet) against a server, passive and active: binary and
# ASCII transfers, listings and file management.
# usage: perl perl_ftp.pl PORT PAYLOAD TEXT OUTDIR
use strict;
use warnings;
use Net::FTP;
my ($port, $payload, $text, $out) = @ARGV;
sub same {
    my ($a, $b) = @_;
    local $/;
    open(my $x, "<:raw", $a) or die "$a: $!";
    open(my $y, "<:raw", $b) or die "$b: $!";
    die "$a and $b differ\n" unless <$x> eq <$y>;
}
for my $passive (1, 0) {
    my $m = $passive ? "p" : "a";
    my $ftp = Net::FTP->new("127.0.0.1", Port => $port, Passive => $passive, Timeout => 20)
        or die "connect: $@";
    my $ok = sub { $_[0] or die "$_[1]: " . $ftp->code . " " . $ftp->message };
    $ok->($ftp->login("anonymous", 'x@'), "login");
    $ftp->binary;
    $ok->($ftp->put($payload, "pl-$m.bin"), "put");
    $ok->($ftp->get("pl-$m.bin", "$out/pl-$m.bin"), "get");
    same($payload, "$out/pl-$m.bin");
    $ftp->ascii;
    $ok->($ftp->put($text, "pl-$m.txt"), "ascii put");
    $ok->($ftp->get("pl-$m.txt", "$out/pl-$m.txt"), "ascii get");
    same($text, "$out/pl-$m.txt");
    $ftp->binary;
    my @names = $ftp->ls;
    die "ls: @names\n" unless grep { $_ eq "pl-$m.bin" } @names;
    my @lines = $ftp->dir;
    die "dir: @lines\n" unless grep { / pl-$m\.bin$/ } @lines;
    die "size\n" unless $ftp->size("pl-$m.bin") == -s $payload;
    $ok->($ftp->mdtm("pl-$m.bin"), "mdtm");
    $ok->($ftp->mkdir("pd-$m"), "mkdir");
    $ok->($ftp->cwd("pd-$m"), "cwd");
    die "pwd\n" unless $ftp->pwd eq "/pd-$m";
    $ok->($ftp->cdup, "cdup");
    $ok->($ftp->rmdir("pd-$m"), "rmdir");
    $ok->($ftp->rename("pl-$m.bin", "pl-$m.moved"), "rename");
    $ok->($ftp->delete("pl-$m.moved"), "delete");
    $ok->($ftp->quit, "quit");
}
print "ok\n";
