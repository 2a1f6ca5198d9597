import { type DefaultTheme, defineConfig } from 'vitepress'

/** The page set is the same in every locale; only the titles differ. */
const guidePages = [
  ['why', 'Why', 'なぜ必要か'],
  ['encrypt-credentials', 'Encrypt credentials with KMS', 'KMS で認証情報を暗号化する'],
  ['iam', 'IAM', 'IAM'],
  ['network', 'Network', 'ネットワーク'],
  ['connections', 'Connections', '接続'],
  ['failover', 'Failover and maintenance', 'フェイルオーバーとメンテナンス'],
  ['observability', 'Observability', 'オブザーバビリティ'],
  ['sample-app', 'The sample app', 'サンプルアプリ'],
  ['troubleshooting', 'Troubleshooting', 'トラブルシューティング'],
] as const

const referencePages = [
  ['kms-env', '@rdskit/kms-env', '@rdskit/kms-env'],
  ['rds', '@rdskit/rds', '@rdskit/rds'],
  ['cli', 'rdskit-kms CLI', 'rdskit-kms CLI'],
] as const

type Lang = 'en' | 'ja'

function sidebar(lang: Lang): DefaultTheme.SidebarItem[] {
  const prefix = lang === 'en' ? '' : '/ja'
  const title = (page: readonly [string, string, string]) => (lang === 'en' ? page[1] : page[2])
  return [
    {
      text: lang === 'en' ? 'Guide' : 'ガイド',
      items: guidePages.map((page) => ({ text: title(page), link: `${prefix}/guide/${page[0]}` })),
    },
    {
      text: lang === 'en' ? 'Reference' : 'リファレンス',
      items: referencePages.map((page) => ({ text: title(page), link: `${prefix}/reference/${page[0]}` })),
    },
    {
      text: lang === 'en' ? 'Benchmarks' : 'ベンチマーク',
      items: [{ text: lang === 'en' ? 'Benchmarks' : 'ベンチマーク', link: `${prefix}/benchmarks` }],
    },
  ]
}

function nav(lang: Lang): DefaultTheme.NavItem[] {
  const prefix = lang === 'en' ? '' : '/ja'
  return [
    {
      text: lang === 'en' ? 'Guide' : 'ガイド',
      link: `${prefix}/guide/why`,
      activeMatch: `${prefix}/guide/`,
    },
    {
      text: lang === 'en' ? 'Reference' : 'リファレンス',
      link: `${prefix}/reference/kms-env`,
      activeMatch: `${prefix}/reference/`,
    },
    { text: lang === 'en' ? 'Benchmarks' : 'ベンチマーク', link: `${prefix}/benchmarks` },
  ]
}

export default defineConfig({
  title: 'rdskit',
  base: '/',
  cleanUrls: true,
  // A dead link fails the build, and `pnpm test` runs the build.
  ignoreDeadLinks: false,
  // The site must build from a tarball or a shallow clone: no git history needed.
  lastUpdated: false,
  srcExclude: ['**/README.md', 'test/**', 'test-results/**', 'node_modules/**'],
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/logo.svg' }]],
  markdown: {
    // Code fences may carry a meta such as `no-check` (see test/samples.test.ts); the language stays `ts`.
    theme: { light: 'github-light', dark: 'github-dark' },
  },
  themeConfig: {
    logo: '/logo.svg',
    socialLinks: [],
    search: {
      provider: 'local',
      options: {
        locales: {
          ja: {
            translations: {
              button: { buttonText: '検索', buttonAriaLabel: '検索' },
              modal: {
                displayDetails: '詳細を表示',
                resetButtonTitle: '検索をリセット',
                backButtonTitle: '検索を閉じる',
                noResultsText: '該当する結果がありません',
                footer: {
                  selectText: '選択',
                  selectKeyAriaLabel: 'Enter',
                  navigateText: '移動',
                  navigateUpKeyAriaLabel: '上矢印',
                  navigateDownKeyAriaLabel: '下矢印',
                  closeText: '閉じる',
                  closeKeyAriaLabel: 'Esc',
                },
              },
            },
          },
        },
      },
    },
  },
  locales: {
    root: {
      label: 'English',
      lang: 'en',
      description:
        'AWS Lambda + RDS PostgreSQL done right: KMS-encrypted credentials, VPC, connections, TLS.',
      themeConfig: {
        nav: nav('en'),
        sidebar: sidebar('en'),
        footer: { message: 'Released under the MIT License.' },
      },
    },
    ja: {
      label: '日本語',
      lang: 'ja',
      link: '/ja/',
      description: 'AWS Lambda から RDS PostgreSQL へ安全に: KMS で暗号化した認証情報、VPC、接続、TLS。',
      themeConfig: {
        nav: nav('ja'),
        sidebar: sidebar('ja'),
        footer: { message: 'MIT ライセンスで公開しています。' },
        outline: { label: 'このページの内容' },
        docFooter: { prev: '前のページ', next: '次のページ' },
        langMenuLabel: '言語を切り替える',
        returnToTopLabel: 'トップに戻る',
        sidebarMenuLabel: 'メニュー',
        darkModeSwitchLabel: '外観',
        lightModeSwitchTitle: 'ライトモードに切り替える',
        darkModeSwitchTitle: 'ダークモードに切り替える',
        notFound: {
          title: 'ページが見つかりません',
          quote: 'お探しのページは移動したか、存在しません。',
          linkLabel: 'ホームへ戻る',
          linkText: 'ホームへ戻る',
        },
      },
    },
  },
})
