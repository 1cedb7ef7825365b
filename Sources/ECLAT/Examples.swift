/// Scripts hike carries, so that `hike bench` and tests need no file on disk. Each equals its file
/// under examples/ (a test compares them).
public enum ECLATExamples {
    /// examples/ddos/ddos.eclat: the thesis' Listing 7.2.
    public static let ddos = """
    # The two-level token-bucket DDoS mitigation of the eCLAT thesis (Listing 7.2), unchanged but for
    # the device, which comes from `-D DEVNAME <interface>`:
    #
    #   hike compile examples/ddos/ddos.eclat -D DEVNAME veth0
    #   hike load examples/ddos/ddos.eclat -D DEVNAME veth0
    from programs.hike_default import hike_drop, hike_pass, ip6_hset_srcdst, monitor, l2_redirect
    from programs.meter import ip6_sd_tbmon, ip6_dst_tbmon
    from programs.sampler import ip6_sd_dec2zero
    from loaders.hike_default import ip6_sc

    # send all IPv6 packets to our chain
    ip6_sc.ipv6_sc_map = { (0): (ddos_tb_2_lev) }
    ip6_sc.attach('DEVNAME', 'xdp')

    def ddos_tb_2_lev():
        PASS=0; DROP=1; REDIRECT=2;
        REDIRECT_IF_INDEX = 6;
        ADD=1; LOOKUP=2;
        BLACKLISTED = 0;
        IN_PROFILE = 0;

        # (src, dest) in blacklist ?
        u64 : res = ip6_hset_srcdst(LOOKUP)
        if res == BLACKLISTED:
            # redirect one packet out of 500
            res = ip6_sd_dec2zero(500)
            if res == 0:
                monitor(REDIRECT)
                l2_redirect(REDIRECT_IF_INDEX)
                return 0

            monitor(DROP)
            hike_drop()
            return 0

        # check the rate per (dst)
        res = ip6_dst_tbmon()
        if res != IN_PROFILE:
            # check the rate per (src, dst)
            res = ip6_sd_tbmon()
            if res != IN_PROFILE:
                # add (src, dest) to blacklist
                ip6_hset_srcdst(ADD)
                monitor(DROP)
                hike_drop()
                return 0

        monitor(PASS)
        hike_pass()
        return 0

    """
}
