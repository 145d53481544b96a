# Test helpers for the KME client: a PKI made with ssn-pki, kme-sim over mutual
# TLS on a kernel-chosen port, and PostgreSQL nodes configured as SAEs.
package SsnKme;
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

my @sims;

sub tool { return "$ENV{SSN_TOOLS}/$_[0]"; }

# make_pki(DIR, SAE...) -> DIR; a KME certificate for localhost/127.0.0.1 and one
# for another name, one certificate per SAE, and a foreign CA with an SAE_A.
sub make_pki
{
	my ($dir, @saes) = @_;
	my $pki = tool('ssn-pki');
	my @cmds = ([ $pki, 'init', $dir ],
		[ $pki, 'issue', $dir, '--kind', 'kme', 'kme', '--dns', 'localhost', '--ip', '127.0.0.1' ],
		[ $pki, 'issue', $dir, '--kind', 'kme', 'kme-other', '--dns', 'kme-other.example' ],
		(map { [ $pki, 'issue', $dir, '--kind', 'sae', $_ ] } @saes),
		[ $pki, 'init', "$dir-foreign" ],
		[ $pki, 'issue', "$dir-foreign", '--kind', 'sae', 'SAE_A' ]);
	for my $c (@cmds)
	{
		my ($out, $err);
		IPC::Run::run($c, '>', \$out, '2>', \$err) or die "@$c failed: $err";
	}
	return $dir;
}

# start_sim(CONFIG_TEXT, NAME) -> port; the configuration's paths are relative to
# the directory of the PKI, where the configuration is written.
sub start_sim
{
	my ($pki, $conf, $name) = @_;
	my $cf = "$pki/../$name.conf";
	my $portfile = "$pki/../$name.port";
	my $pidfile = "$pki/../$name.pid";
	unlink $portfile;
	open my $fh, '>', $cf or die;
	print $fh $conf;
	close $fh;
	system(tool('kme-sim') . " -c $cf -P $portfile -p $pidfile -d 2>>$pki/../$name.log") == 0
	  or die "kme-sim $name did not start: " . slurp_file("$pki/../$name.log");
	# the daemon writes its files once it listens; on a loaded machine that may take
	# a while (the bound only matters when it never comes)
	my $deadline = time + 120;
	until ((-s $portfile && -s $pidfile) || time > $deadline)
	{
		usleep(50_000);
	}
	my $port = slurp_file($portfile);
	chomp $port;
	my $pid = slurp_file($pidfile);
	chomp $pid;
	push @sims, $pid;
	return $port;
}

END { kill 'TERM', @sims if @sims; }

# the settings that make a node SAE $sae of the KME at $url
sub sae_conf
{
	my ($pki, $url, $sae) = @_;
	return qq{
ssn.kme_url = '$url'
ssn.sae_id = '$sae'
ssn.sae_cert = '$pki/sae/$sae.crt'
ssn.sae_key = '$pki/sae/$sae.key'
ssn.kme_ca = '$pki/ca.crt'
ssn.kme_crl = '$pki/crl.pem'
# generous: on a loaded machine an answer may take a while (010 sets short
# timeouts where it tests them)
ssn.kme_timeout = '30s'
ssn.kme_connect_timeout = '30s'
};
}

# psql on a node: (stdout, stderr) of one command, errors allowed
sub sql
{
	my ($node, $sql, $db) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db // 'postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

1;
