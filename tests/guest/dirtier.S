/* dirtier.S: a guest that dirties its memory, for the benchmarks and tests that need a
 * running guest (there is no guest OS here). A multiboot kernel (QEMU -kernel): from 2 MiB
 * to the top of its RAM (the multiboot memory map's mem_upper), or over the number of MiB
 * its command line ends with (-append 512), it adds 1 to one word of every 4 KiB page,
 * over and over, and counts the passes at guest-physical 0x7000, which a
 * test reads (HMP xp) to see that the guest runs: some machines have a /dev/kvm whose
 * guests never execute a thing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
    .text
    /* the multiboot header, in the first 8 KiB of the file: magic, flags (memory info),
     * checksum */
    .align 4
    .long 0x1BADB002
    .long 0x00000002
    .long -(0x1BADB002 + 0x00000002)
    /* multiboot information: flags, mem_upper, cmdline */
    .set MBI_FLAGS, 0
    .set MBI_MEM_UPPER, 8
    .set MBI_CMDLINE, 16
    .set MBI_HAS_CMDLINE, 4
    .code32
    .globl _start
_start:
    cli
    movl MBI_MEM_UPPER(%ebx), %ecx  /* mem_upper: KiB above 1 MiB */
    shll $10, %ecx
    addl $0x100000, %ecx
    subl $0x1000, %ecx          /* the end: the last whole page */
    testl $MBI_HAS_CMDLINE, MBI_FLAGS(%ebx)
    jz 9f
    movl MBI_CMDLINE(%ebx), %edi    /* "kernel [... MiB]" */
    movl %edi, %edx
3:  cmpb $0, (%edx)             /* %edx: the end of the command line */
    je 4f
    incl %edx
    jmp 3b
4:  movl %edx, %eax             /* %eax: back over its trailing digits */
5:  cmpl %edi, %eax
    je 6f
    movzbl -1(%eax), %ebp
    subl $'0', %ebp
    cmpl $9, %ebp
    ja 6f
    decl %eax
    jmp 5b
6:  cmpl %eax, %edx             /* no digits: all of the RAM */
    je 9f
    xorl %ebp, %ebp
7:  imull $10, %ebp
    movzbl (%eax), %ebx
    subl $'0', %ebx
    addl %ebx, %ebp
    incl %eax
    cmpl %eax, %edx
    jne 7b
    shll $20, %ebp              /* MiB from 2 MiB on, within the RAM */
    addl $0x200000, %ebp
    cmpl %ecx, %ebp
    jae 9f
    movl %ebp, %ecx
9:
    movl $0x7000, %esi          /* the pass counter */
    movl $0, (%esi)
1:  movl $0x200000, %edi
2:  incl (%edi)
    addl $4096, %edi
    cmpl %ecx, %edi
    jb 2b
    incl (%esi)
    jmp 1b
