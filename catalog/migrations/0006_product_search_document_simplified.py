"""Traditional Chinese found by simplified and the other way round, on PostgreSQL: 蘋果 <-> 苹果.

A product's search document (0004) now folds each traditional character to its simplified form
before it makes the pairs of characters, as search folds the shopper's query
(catalog/chinese.py says why character by character). `catalog_search_terms` folds by the table
below, and `catalog_search_simplified(text)` folds alone by the same: OpenCC's
Traditional-to-Simplified characters (opencc 1.4.2), as catalog.chinese.t2s_character_table()
gives them. The table is stored here, not read from the package when migrating, so that every
database holds the same one whatever OpenCC is installed;
tests/recommendations/test_search_chinese_scripts.py fails when the installed OpenCC's table
differs from it, and a new migration then stores the new one and refolds.

The generated column is not added again (0004 rewrote the whole table under an exclusive lock):
`catalog_search_terms` is replaced in place, and PostgreSQL computes a stored generated column
again on every update of a column it reads. So the rows whose text holds a traditional character,
and those alone, are updated (`SET title = title`), ROWS_PER_BATCH at a time, each batch committed
on its own (the migration is not atomic): the catalog stays readable and writable meanwhile, and
a migration stopped halfway is simply run again (Django records it as applied only once it ends).
Until its row is refolded, a traditional title is found by traditional queries, which search also
asks as typed when they find too few (recommendations.selectors.search.lexical_search), and not
yet by simplified ones, as before this migration. `updated_at` keeps its
value. Simplified, English or other text is not touched: folding changes nothing there.

Folding costs a document about 0.7 µs a character of traditional text, and a scan for one (about
0.2 µs a character) where there is none; text without Chinese or Japanese pays nothing. Measured
on two busy cores, 24,000 products with 20-character titles and 180-character descriptions: their
documents took 7.5-9.5 s to compute rather than 4.5-5 s in traditional characters, about as long
as before in simplified ones or in English. The migration refolded 48,000 traditional products
among 144,000 in about 50 s, and scanning all of them for traditional text took 2 s of that.
"""

from django.db import migrations

# OpenCC 1.4.2's t2s characters: each pair is a traditional character and its simplified form.
_T2S_TEXT = (
    "㑯㑔 㑳㑇 㑶㐹 㓨刾 㘚㘎 㜄㚯 㜏㛣 㠏㟆 㥮㤘 㩜㨫 㩳㧐 㩵擜 䁻䀥 䃮鿎 䊷䌶 䋙䌺 䋚䌻 䋹䌿 䋻䌾 䍦䍠 "
    "䎱䎬 䙡䙌 䜀䜧 䝼䞍 䥇䦂 䥑鿏 䥱䥾 䦛䦶 䦟䦷 䯀䯅 䰾鲃 䱷䲣 䱽䲝 䲁鳚 䲘鳤 䴉鹮 丟丢 並并 乾干 亂乱 "
    "亙亘 亞亚 佇伫 佈布 佔占 併并 來来 侖仑 侶侣 侷局 俁俣 係系 俔伣 俠侠 俥伡 俬私 倀伥 倆俩 倈俫 倉仓 "
    "個个 們们 倖幸 倫伦 倲㑈 偉伟 偑㐽 側侧 偵侦 偽伪 傌㐷 傑杰 傖伧 傘伞 備备 傢家 傭佣 傯偬 傳传 傴伛 "
    "債债 傷伤 傾倾 僂偻 僅仅 僉佥 僑侨 僕仆 僞伪 僥侥 僨偾 僱雇 價价 儀仪 儁俊 儂侬 億亿 儈侩 儉俭 儎傤 "
    "儐傧 儔俦 儕侪 儘尽 償偿 優优 儲储 儷俪 儸㑩 儺傩 儻傥 儼俨 兇凶 兌兑 兒儿 兗兖 內内 兩两 冊册 冑胄 "
    "冪幂 凈净 凍冻 凜凛 凱凯 別别 刪删 剄刭 則则 剋克 剎刹 剗刬 剛刚 剝剥 剮剐 剴剀 創创 剷铲 劃划 劄札 "
    "劇剧 劉刘 劊刽 劌刿 劍剑 劏㓥 劑剂 劚㔉 勁劲 動动 務务 勛勋 勝胜 勞劳 勢势 勩勚 勱劢 勳勋 勵励 勸劝 "
    "勻匀 匭匦 匯汇 匱匮 區区 協协 卹恤 卻却 卽即 厙厍 厠厕 厤历 厭厌 厲厉 厴厣 參参 叄叁 叢丛 吒咤 吳吴 "
    "吶呐 呂吕 咼呙 員员 唄呗 唸念 問问 啓启 啞哑 啟启 啢唡 喎㖞 喚唤 喪丧 喫吃 喬乔 單单 喲哟 嗆呛 嗇啬 "
    "嗊唝 嗎吗 嗚呜 嗩唢 嗶哔 嘆叹 嘍喽 嘓啯 嘔呕 嘖啧 嘗尝 嘜唛 嘩哗 嘮唠 嘯啸 嘰叽 嘵哓 嘸呒 嘽啴 噁恶 "
    "噓嘘 噚㖊 噝咝 噠哒 噥哝 噦哕 噯嗳 噲哙 噴喷 噸吨 噹当 嚀咛 嚇吓 嚌哜 嚐尝 嚕噜 嚙啮 嚥咽 嚦呖 嚨咙 "
    "嚮向 嚲亸 嚳喾 嚴严 嚶嘤 囀啭 囁嗫 囂嚣 囅冁 囈呓 囉啰 囌苏 囑嘱 囪囱 圇囵 國国 圍围 園园 圓圆 圖图 "
    "團团 垻坝 埡垭 埰采 執执 堅坚 堊垩 堖垴 堝埚 堯尧 報报 場场 塊块 塋茔 塏垲 塒埘 塗涂 塚冢 塢坞 塤埙 "
    "塵尘 塹堑 墊垫 墜坠 墮堕 墰坛 墳坟 墶垯 墻墙 墾垦 壇坛 壋垱 壎埙 壓压 壘垒 壙圹 壚垆 壜坛 壞坏 壟垄 "
    "壠垅 壢坜 壩坝 壪塆 壯壮 壺壶 壼壸 壽寿 夠够 夢梦 夥伙 夾夹 奐奂 奧奥 奩奁 奪夺 奬奖 奮奋 奼姹 妝妆 "
    "姍姗 姦奸 娛娱 婁娄 婦妇 婭娅 媧娲 媯妫 媰㛀 媼媪 媽妈 嫋袅 嫗妪 嫵妩 嫺娴 嫻娴 嫿婳 嬀妫 嬃媭 嬈娆 "
    "嬋婵 嬌娇 嬙嫱 嬡嫒 嬤嬷 嬪嫔 嬰婴 嬸婶 孃娘 孋㛤 孌娈 孫孙 學学 孿孪 宮宫 寀采 寢寝 實实 寧宁 審审 "
    "寫写 寬宽 寵宠 寶宝 將将 專专 尋寻 對对 導导 尷尴 屆届 屍尸 屓屃 屜屉 屢屡 層层 屨屦 屬属 岡冈 峯峰 "
    "峴岘 島岛 峽峡 崍崃 崑昆 崗岗 崙仑 崢峥 崬岽 嵐岚 嵗岁 嵾㟥 嶁嵝 嶄崭 嶇岖 嶔嵚 嶗崂 嶠峤 嶢峣 嶧峄 "
    "嶨峃 嶮崄 嶸嵘 嶺岭 嶼屿 嶽岳 巋岿 巒峦 巔巅 巖岩 巰巯 巹卺 帥帅 師师 帳帐 帶带 幀帧 幃帏 幓㡎 幗帼 "
    "幘帻 幟帜 幣币 幫帮 幬帱 幷并 幹干 幾几 庫库 廁厕 廂厢 廄厩 廈厦 廎庼 廕荫 廚厨 廝厮 廟庙 廠厂 廡庑 "
    "廢废 廣广 廩廪 廬庐 廳厅 弒弑 弔吊 弳弪 張张 強强 彆别 彈弹 彌弥 彎弯 彔录 彙汇 彠彟 彥彦 彫雕 彲彨 "
    "彿佛 後后 徑径 從从 徠徕 復复 徵征 徹彻 恆恒 恥耻 悅悦 悞悮 悵怅 悶闷 悽凄 惡恶 惱恼 惲恽 惻恻 愛爱 "
    "愜惬 愨悫 愴怆 愷恺 愾忾 慄栗 態态 慍愠 慘惨 慚惭 慟恸 慣惯 慤悫 慪怄 慫怂 慮虑 慳悭 慶庆 慺㥪 慼戚 "
    "慾欲 憂忧 憊惫 憐怜 憑凭 憒愦 憖慭 憚惮 憤愤 憫悯 憮怃 憲宪 憶忆 懇恳 應应 懌怿 懍懔 懞蒙 懟怼 懣懑 "
    "懤㤽 懨恹 懲惩 懶懒 懷怀 懸悬 懺忏 懼惧 懾慑 戀恋 戇戆 戔戋 戧戗 戩戬 戰战 戱戯 戲戏 戶户 扞捍 拋抛 "
    "拚拼 挩捝 挱挲 挾挟 捨舍 捫扪 捱挨 捲卷 掃扫 掄抡 掆㧏 掗挜 掙挣 掛挂 採采 揀拣 揚扬 換换 揮挥 揯搄 "
    "損损 搖摇 搗捣 搧扇 搵揾 搶抢 摑掴 摜掼 摟搂 摯挚 摳抠 摶抟 摺折 摻掺 撈捞 撏挦 撐撑 撓挠 撝㧑 撟挢 "
    "撣掸 撥拨 撫抚 撲扑 撳揿 撻挞 撾挝 撿捡 擁拥 擄掳 擇择 擊击 擋挡 擓㧟 擔担 據据 擠挤 擡抬 擣捣 擬拟 "
    "擯摈 擰拧 擱搁 擲掷 擴扩 擷撷 擺摆 擻擞 擼撸 擽㧰 擾扰 攄摅 攆撵 攏拢 攔拦 攖撄 攙搀 攛撺 攜携 攝摄 "
    "攢攒 攣挛 攤摊 攪搅 攬揽 敎教 敓敚 敗败 敘叙 敵敌 數数 斂敛 斃毙 斆敩 斕斓 斬斩 斷断 於于 旂旗 旣既 "
    "昇升 時时 晉晋 晝昼 暈晕 暉晖 暘旸 暢畅 暫暂 曄晔 曆历 曇昙 曉晓 曏向 曖暧 曠旷 曨昽 曬晒 書书 會会 "
    "朧胧 朮术 東东 枴拐 柵栅 柺拐 査查 桿杆 梔栀 梘枧 條条 梟枭 梲棁 棄弃 棊棋 棖枨 棗枣 棟栋 棡㭎 棧栈 "
    "棲栖 棶梾 椏桠 椲㭏 楊杨 楓枫 楨桢 業业 極极 榘矩 榦干 榪杩 榮荣 榲榅 榿桤 構构 槍枪 槓杠 槤梿 槧椠 "
    "槨椁 槮椮 槳桨 槶椢 槼椝 樁桩 樂乐 樅枞 樑梁 樓楼 標标 樞枢 樢㭤 樣样 樧榝 樫㭴 樳桪 樸朴 樹树 樺桦 "
    "樿椫 橈桡 橋桥 機机 橢椭 橫横 檁檩 檉柽 檔档 檜桧 檟槚 檢检 檣樯 檮梼 檯台 檳槟 檸柠 檻槛 櫃柜 櫓橹 "
    "櫚榈 櫛栉 櫝椟 櫞橼 櫟栎 櫥橱 櫧槠 櫨栌 櫪枥 櫫橥 櫬榇 櫱蘖 櫳栊 櫸榉 櫻樱 欄栏 欅榉 權权 欏椤 欒栾 "
    "欖榄 欞棂 欽钦 歎叹 歐欧 歟欤 歡欢 歲岁 歷历 歸归 歿殁 殘残 殞殒 殤殇 殨㱮 殫殚 殭僵 殮殓 殯殡 殰㱩 "
    "殲歼 殺杀 殻壳 殼壳 毀毁 毆殴 毿毵 氂牦 氈毡 氌氇 氣气 氫氢 氬氩 氳氲 氾泛 汎泛 汙污 決决 沒没 沖冲 "
    "況况 泝溯 洩泄 洶汹 浹浃 涇泾 涗涚 涼凉 淒凄 淚泪 淥渌 淨净 淩凌 淪沦 淵渊 淶涞 淺浅 渙涣 減减 渢沨 "
    "渦涡 測测 渾浑 湊凑 湞浈 湧涌 湯汤 溈沩 準准 溝沟 溫温 溮浉 溳涢 溼湿 滄沧 滅灭 滌涤 滎荥 滙汇 滬沪 "
    "滯滞 滲渗 滷卤 滸浒 滻浐 滾滚 滿满 漁渔 漊溇 漚沤 漢汉 漣涟 漬渍 漲涨 漵溆 漸渐 漿浆 潁颍 潑泼 潔洁 "
    "潙沩 潚㴋 潛潜 潤润 潯浔 潰溃 潷滗 潿涠 澀涩 澆浇 澇涝 澐沄 澗涧 澠渑 澤泽 澦滪 澩泶 澮浍 澱淀 澾㳠 "
    "濁浊 濃浓 濄㳡 濕湿 濘泞 濚溁 濛蒙 濜浕 濟济 濤涛 濧㳔 濫滥 濰潍 濱滨 濺溅 濼泺 濾滤 瀂澛 瀅滢 瀆渎 "
    "瀇㲿 瀉泻 瀋沈 瀏浏 瀕濒 瀘泸 瀝沥 瀟潇 瀠潆 瀦潴 瀧泷 瀨濑 瀰弥 瀲潋 瀾澜 灃沣 灄滠 灑洒 灕漓 灘滩 "
    "灝灏 灡㳕 灣湾 灤滦 灧滟 灩滟 災灾 為为 烏乌 烴烃 無无 煉炼 煒炜 煙烟 煢茕 煥焕 煩烦 煬炀 煱㶽 熅煴 "
    "熒荧 熗炝 熱热 熲颎 熾炽 燁烨 燈灯 燉炖 燒烧 燙烫 燜焖 營营 燦灿 燬毁 燭烛 燴烩 燶㶶 燻熏 燼烬 燾焘 "
    "爍烁 爐炉 爛烂 爭争 爲为 爺爷 爾尔 牀床 牆墙 牘牍 牴抵 牽牵 犖荦 犛牦 犢犊 犧牺 狀状 狹狭 狽狈 猙狰 "
    "猶犹 猻狲 獁犸 獃呆 獄狱 獅狮 獎奖 獨独 獪狯 獫猃 獮狝 獰狞 獱㺍 獲获 獵猎 獷犷 獸兽 獺獭 獻献 獼猕 "
    "玀猡 現现 琱雕 琺珐 琿珲 瑋玮 瑒玚 瑣琐 瑤瑶 瑩莹 瑪玛 瑲玱 璉琏 璡琎 璣玑 璦瑷 璫珰 璯㻅 環环 璵玙 "
    "璸瑸 璽玺 璿璇 瓊琼 瓏珑 瓔璎 瓚瓒 甌瓯 甕瓮 產产 産产 畝亩 畢毕 畫画 異异 畵画 當当 疇畴 疊叠 痙痉 "
    "痠酸 痾疴 瘂痖 瘋疯 瘍疡 瘓痪 瘞瘗 瘡疮 瘧疟 瘮瘆 瘲疭 瘺瘘 瘻瘘 療疗 癆痨 癇痫 癉瘅 癒愈 癘疠 癟瘪 "
    "癡痴 癢痒 癤疖 癥症 癧疬 癩癞 癬癣 癭瘿 癮瘾 癰痈 癱瘫 癲癫 發发 皁皂 皚皑 皰疱 皸皲 皺皱 盃杯 盜盗 "
    "盞盏 盡尽 監监 盤盘 盧卢 盪荡 眞真 眥眦 眾众 睏困 睜睁 睞睐 瞘眍 瞜䁖 瞞瞒 瞶瞆 瞼睑 矇蒙 矓眬 矚瞩 "
    "矯矫 硃朱 硜硁 硤硖 硨砗 硯砚 碕埼 碩硕 碭砀 碸砜 確确 碼码 碽䂵 磑硙 磚砖 磠硵 磣碜 磧碛 磯矶 磽硗 "
    "磾䃅 礄硚 礎础 礙碍 礦矿 礪砺 礫砾 礬矾 礱砻 祕秘 祿禄 禍祸 禎祯 禕祎 禡祃 禦御 禪禅 禮礼 禰祢 禱祷 "
    "禿秃 秈籼 稅税 稈秆 稏䅉 稜棱 稟禀 種种 稱称 穀谷 穇䅟 穌稣 積积 穎颖 穠秾 穡穑 穢秽 穩稳 穫获 穭穞 "
    "窩窝 窪洼 窮穷 窯窑 窵窎 窶窭 窺窥 竄窜 竅窍 竇窦 竈灶 竊窃 竪竖 競竞 筆笔 筍笋 筧笕 筴䇲 箇个 箋笺 "
    "箏筝 箚札 節节 範范 築筑 篋箧 篔筼 篠筿 篤笃 篩筛 篳筚 簀箦 簍篓 簑蓑 簞箪 簡简 簣篑 簫箫 簹筜 簽签 "
    "簾帘 籃篮 籌筹 籔䉤 籙箓 籛篯 籜箨 籟籁 籠笼 籤签 籩笾 籪簖 籬篱 籮箩 籲吁 粵粤 糉粽 糝糁 糞粪 糧粮 "
    "糰团 糲粝 糴籴 糶粜 糹纟 糾纠 紀纪 紂纣 約约 紅红 紆纡 紇纥 紈纨 紉纫 紋纹 納纳 紐纽 紓纾 純纯 紕纰 "
    "紖纼 紗纱 紘纮 紙纸 級级 紛纷 紜纭 紝纴 紡纺 紬䌷 紮扎 細细 紱绂 紲绁 紳绅 紵纻 紹绍 紺绀 紼绋 紿绐 "
    "絀绌 終终 絃弦 組组 絅䌹 絆绊 絎绗 結结 絕绝 絛绦 絝绔 絞绞 絡络 絢绚 給给 絨绒 絰绖 統统 絲丝 絳绛 "
    "絶绝 絹绢 綁绑 綃绡 綆绠 綈绨 綉绣 綌绤 綏绥 綐䌼 綑捆 經经 綜综 綞缍 綠绿 綢绸 綣绻 綫线 綬绶 維维 "
    "綯绹 綰绾 綱纲 網网 綳绷 綴缀 綵彩 綸纶 綹绺 綺绮 綻绽 綽绰 綾绫 綿绵 緄绲 緇缁 緊紧 緋绯 緑绿 緒绪 "
    "緓绬 緔绱 緗缃 緘缄 緙缂 線线 緝缉 緞缎 締缔 緡缗 緣缘 緦缌 編编 緩缓 緬缅 緯纬 緱缑 緲缈 練练 緶缏 "
    "緹缇 緻致 緼缊 縈萦 縉缙 縊缢 縋缒 縐绉 縑缣 縕缊 縗缞 縛缚 縝缜 縞缟 縟缛 縣县 縧绦 縫缝 縭缡 縮缩 "
    "縱纵 縲缧 縳䌸 縴纤 縵缦 縶絷 縷缕 縹缥 總总 績绩 繃绷 繅缫 繆缪 繒缯 織织 繕缮 繚缭 繞绕 繡绣 繢缋 "
    "繩绳 繪绘 繫系 繭茧 繮缰 繯缳 繰缲 繳缴 繸䍁 繹绎 繼继 繽缤 繾缱 繿䍀 纇颣 纈缬 纊纩 續续 纍累 纏缠 "
    "纓缨 纔才 纖纤 纘缵 纜缆 缽钵 罃䓨 罈坛 罌罂 罎坛 罰罚 罵骂 罷罢 羅罗 羆罴 羈羁 羋芈 羣群 羥羟 羨羡 "
    "義义 羶膻 習习 翫玩 翬翚 翹翘 翽翙 耬耧 耮耢 聖圣 聞闻 聯联 聰聪 聲声 聳耸 聵聩 聶聂 職职 聹聍 聽听 "
    "聾聋 肅肃 脅胁 脈脉 脛胫 脣唇 脩修 脫脱 脹胀 腎肾 腖胨 腡脶 腦脑 腫肿 腳脚 腸肠 膃腽 膕腘 膚肤 膞䏝 "
    "膠胶 膩腻 膽胆 膾脍 膿脓 臉脸 臍脐 臏膑 臘腊 臚胪 臟脏 臠脔 臢臜 臥卧 臨临 臺台 與与 興兴 舉举 舊旧 "
    "舖铺 舘馆 艙舱 艤舣 艦舰 艫舻 艱艰 艷艳 芻刍 苧苎 茲兹 荊荆 莊庄 莖茎 莢荚 莧苋 華华 菴庵 菸烟 萇苌 "
    "萊莱 萬万 萴荝 萵莴 葉叶 葒荭 葤荮 葦苇 葯药 葷荤 蒐搜 蒓莼 蒔莳 蒕蒀 蒞莅 蒼苍 蓀荪 蓆席 蓋盖 蓮莲 "
    "蓯苁 蓴莼 蓽荜 蔔卜 蔘参 蔞蒌 蔣蒋 蔥葱 蔦茑 蔭荫 蕁荨 蕆蒇 蕎荞 蕒荬 蕓芸 蕕莸 蕘荛 蕢蒉 蕩荡 蕪芜 "
    "蕭萧 蕷蓣 薀蕰 薈荟 薊蓟 薌芗 薑姜 薔蔷 薘荙 薟莶 薦荐 薩萨 薳䓕 薴苎 薵䓓 薹苔 薺荠 藍蓝 藎荩 藝艺 "
    "藥药 藪薮 藭䓖 藴蕴 藶苈 藹蔼 藺蔺 蘀萚 蘄蕲 蘆芦 蘇苏 蘊蕴 蘋苹 蘚藓 蘞蔹 蘢茏 蘭兰 蘺蓠 蘿萝 虆蔂 "
    "處处 虛虚 虜虏 號号 虧亏 虯虬 蛺蛱 蛻蜕 蜆蚬 蝕蚀 蝟猬 蝦虾 蝨虱 蝸蜗 螄蛳 螞蚂 螢萤 螮䗖 螻蝼 螿螀 "
    "蟄蛰 蟈蝈 蟎螨 蟣虮 蟬蝉 蟯蛲 蟲虫 蟶蛏 蟻蚁 蠁蚃 蠅蝇 蠆虿 蠍蝎 蠐蛴 蠑蝾 蠔蚝 蠟蜡 蠣蛎 蠨蟏 蠱蛊 "
    "蠶蚕 蠻蛮 衆众 衊蔑 術术 衕同 衚胡 衛卫 衝冲 袞衮 袷夹 裊袅 裏里 補补 裝装 裡里 製制 複复 褌裈 褘袆 "
    "褲裤 褳裢 褸褛 褻亵 襇裥 襉裥 襏袯 襖袄 襝裣 襠裆 襤褴 襪袜 襬摆 襯衬 襲袭 襴襕 覈核 見见 覎觃 規规 "
    "覓觅 視视 覘觇 覡觋 覥觍 覦觎 親亲 覬觊 覯觏 覲觐 覷觑 覺觉 覽览 覿觌 觀观 觴觞 觶觯 觸触 訁讠 訂订 "
    "訃讣 計计 訊讯 訌讧 討讨 訐讦 訒讱 訓训 訕讪 訖讫 託托 記记 訛讹 訝讶 訟讼 訢䜣 訣诀 訥讷 訩讻 訪访 "
    "設设 許许 訴诉 訶诃 診诊 註注 証证 詁诂 詆诋 詎讵 詐诈 詒诒 詔诏 評评 詖诐 詗诇 詘诎 詛诅 詞词 詠咏 "
    "詡诩 詢询 詣诣 試试 詩诗 詫诧 詬诟 詭诡 詮诠 詰诘 話话 該该 詳详 詵诜 詼诙 詿诖 誄诔 誅诛 誆诓 誇夸 "
    "誌志 認认 誑诳 誒诶 誕诞 誘诱 誚诮 語语 誠诚 誡诫 誣诬 誤误 誥诰 誦诵 誨诲 說说 説说 誰谁 課课 誶谇 "
    "誹诽 誼谊 誾訚 調调 諂谄 諄谆 談谈 諉诿 請请 諍诤 諏诹 諑诼 諒谅 論论 諗谂 諛谀 諜谍 諝谞 諞谝 諡谥 "
    "諢诨 諤谔 諦谛 諧谐 諫谏 諭谕 諮咨 諱讳 諳谙 諶谌 諷讽 諸诸 諺谚 諼谖 諾诺 謀谋 謁谒 謂谓 謄誊 謅诌 "
    "謊谎 謎谜 謐谧 謔谑 謖谡 謗谤 謙谦 謚谥 講讲 謝谢 謠谣 謡谣 謨谟 謫谪 謬谬 謭谫 謳讴 謹谨 謾谩 譁哗 "
    "證证 譎谲 譏讥 譖谮 識识 譙谯 譚谭 譜谱 譟噪 譫谵 譭毁 譯译 議议 譴谴 護护 譸诪 譽誉 譾谫 讀读 讅谉 "
    "變变 讋詟 讌䜩 讎雠 讒谗 讓让 讕谰 讖谶 讚赞 讜谠 讞谳 谿溪 豈岂 豎竖 豐丰 豔艳 豬猪 豶豮 貍狸 貓猫 "
    "貙䝙 貝贝 貞贞 貟贠 負负 財财 貢贡 貧贫 貨货 販贩 貪贪 貫贯 責责 貯贮 貰贳 貲赀 貳贰 貴贵 貶贬 買买 "
    "貸贷 貺贶 費费 貼贴 貽贻 貿贸 賀贺 賁贲 賂赂 賃赁 賄贿 賅赅 資资 賈贾 賊贼 賑赈 賒赊 賓宾 賕赇 賙赒 "
    "賚赉 賜赐 賞赏 賠赔 賡赓 賢贤 賣卖 賤贱 賦赋 賧赕 質质 賫赍 賬账 賭赌 賰䞐 賴赖 賵赗 賺赚 賻赙 購购 "
    "賽赛 賾赜 贄贽 贅赘 贇赟 贈赠 贊赞 贋赝 贍赡 贏赢 贐赆 贓赃 贔赑 贖赎 贗赝 贛赣 贜赃 赬赪 趕赶 趙赵 "
    "趨趋 趲趱 跡迹 踐践 踰逾 踴踊 蹌跄 蹕跸 蹟迹 蹠跖 蹣蹒 蹤踪 蹺跷 躂跶 躉趸 躊踌 躋跻 躍跃 躎䟢 躑踯 "
    "躒跞 躓踬 躕蹰 躚跹 躡蹑 躥蹿 躦躜 躪躏 軀躯 車车 軋轧 軌轨 軍军 軑轪 軒轩 軔轫 軛轭 軟软 軤轷 軫轸 "
    "軲轱 軸轴 軹轵 軺轺 軻轲 軼轶 軾轼 較较 輅辂 輇辁 輈辀 載载 輊轾 輒辄 輓挽 輔辅 輕轻 輛辆 輜辎 輝辉 "
    "輞辋 輟辍 輥辊 輦辇 輩辈 輪轮 輬辌 輯辑 輳辏 輸输 輻辐 輼辒 輾辗 輿舆 轀辒 轂毂 轄辖 轅辕 轆辘 轉转 "
    "轍辙 轎轿 轔辚 轟轰 轡辔 轢轹 轤轳 辦办 辭辞 辮辫 辯辩 農农 迴回 逕径 這这 連连 週周 進进 遊游 運运 "
    "過过 達达 違违 遙遥 遜逊 遞递 遠远 遡溯 適适 遲迟 遶绕 遷迁 選选 遺遗 遼辽 邁迈 還还 邇迩 邊边 邏逻 "
    "邐逦 郟郏 郵邮 鄆郓 鄉乡 鄒邹 鄔邬 鄖郧 鄧邓 鄭郑 鄰邻 鄲郸 鄴邺 鄶郐 鄺邝 酇酂 酈郦 醃腌 醖酝 醜丑 "
    "醞酝 醟蒏 醣糖 醫医 醬酱 醱酦 釀酿 釁衅 釃酾 釅酽 釋释 釐厘 釒钅 釓钆 釔钇 釕钌 釗钊 釘钉 釙钋 針针 "
    "釣钓 釤钐 釦扣 釧钏 釩钒 釵钗 釷钍 釹钕 釺钎 釾䥺 鈀钯 鈁钫 鈃钘 鈄钭 鈅钥 鈈钚 鈉钠 鈍钝 鈎钩 鈐钤 "
    "鈑钣 鈒钑 鈔钞 鈕钮 鈞钧 鈡钟 鈣钙 鈥钬 鈦钛 鈧钪 鈮铌 鈰铈 鈳钶 鈴铃 鈷钴 鈸钹 鈹铍 鈺钰 鈽钸 鈾铀 "
    "鈿钿 鉀钾 鉅巨 鉆钻 鉈铊 鉉铉 鉋铇 鉍铋 鉑铂 鉕钷 鉗钳 鉚铆 鉛铅 鉞钺 鉢钵 鉤钩 鉦钲 鉬钼 鉭钽 鉳锫 "
    "鉶铏 鉸铰 鉺铒 鉻铬 鉿铪 銀银 銃铳 銅铜 銍铚 銑铣 銓铨 銖铢 銘铭 銚铫 銛铦 銜衔 銠铑 銣铷 銥铱 銦铟 "
    "銨铵 銩铥 銪铕 銫铯 銬铐 銱铞 銳锐 銷销 銹锈 銻锑 銼锉 鋁铝 鋃锒 鋅锌 鋇钡 鋌铤 鋏铗 鋒锋 鋙铻 鋝锊 "
    "鋟锓 鋣铘 鋤锄 鋥锃 鋦锔 鋨锇 鋩铓 鋪铺 鋭锐 鋮铖 鋯锆 鋰锂 鋱铽 鋶锍 鋸锯 鋼钢 錁锞 錄录 錆锖 錇锫 "
    "錈锩 錏铔 錐锥 錒锕 錕锟 錘锤 錙锱 錚铮 錛锛 錟锬 錠锭 錡锜 錢钱 錦锦 錨锚 錩锠 錫锡 錮锢 錯错 録录 "
    "錳锰 錶表 錸铼 錼镎 鍀锝 鍁锨 鍃锪 鍅钫 鍆钔 鍇锴 鍈锳 鍊炼 鍋锅 鍍镀 鍔锷 鍘铡 鍚钖 鍛锻 鍠锽 鍤锸 "
    "鍥锲 鍩锘 鍬锹 鍰锾 鍵键 鍶锶 鍺锗 鍼针 鍾钟 鎂镁 鎄锿 鎇镅 鎊镑 鎌镰 鎔镕 鎖锁 鎘镉 鎚锤 鎛镈 鎡镃 "
    "鎢钨 鎣蓥 鎦镏 鎧铠 鎩铩 鎪锼 鎬镐 鎭镇 鎮镇 鎰镒 鎲镋 鎳镍 鎵镓 鎶鿔 鎸镌 鎿镎 鏃镞 鏇旋 鏈链 鏌镆 "
    "鏍镙 鏐镠 鏑镝 鏗铿 鏘锵 鏜镗 鏝镘 鏞镛 鏟铲 鏡镜 鏢镖 鏤镂 鏨錾 鏰镚 鏵铧 鏷镤 鏹镪 鏺䥽 鏽锈 鐃铙 "
    "鐋铴 鐐镣 鐒铹 鐓镦 鐔镡 鐘钟 鐙镫 鐝镢 鐠镨 鐥䦅 鐦锎 鐧锏 鐨镄 鐫镌 鐮镰 鐯䦃 鐲镯 鐳镭 鐵铁 鐶镮 "
    "鐸铎 鐺铛 鐿镱 鑄铸 鑊镬 鑌镔 鑑鉴 鑒鉴 鑔镲 鑕锧 鑞镴 鑠铄 鑣镳 鑥镥 鑭镧 鑰钥 鑱镵 鑲镶 鑷镊 鑹镩 "
    "鑼锣 鑽钻 鑾銮 鑿凿 钁镢 钂镋 長长 門门 閂闩 閃闪 閆闫 閈闬 閉闭 開开 閌闶 閎闳 閏闰 閑闲 閒闲 間间 "
    "閔闵 閘闸 閡阂 閣阁 閤合 閥阀 閨闺 閩闽 閫阃 閬阆 閭闾 閱阅 閲阅 閶阊 閹阉 閻阎 閼阏 閽阍 閾阈 閿阌 "
    "闃阒 闆板 闇暗 闈闱 闊阔 闋阕 闌阑 闍阇 闐阗 闒阘 闓闿 闔阖 闕阙 闖闯 關关 闞阚 闠阓 闡阐 闢辟 闤阛 "
    "闥闼 陘陉 陝陕 陞升 陣阵 陰阴 陳陈 陸陆 陽阳 隉陧 隊队 階阶 隕陨 際际 隨随 險险 隯陦 隱隐 隴陇 隸隶 "
    "隻只 雋隽 雖虽 雙双 雛雏 雜杂 雞鸡 離离 難难 雲云 電电 霑沾 霢霡 霧雾 霽霁 靂雳 靄霭 靆叇 靈灵 靉叆 "
    "靚靓 靜静 靝靔 靦腼 靨靥 鞏巩 鞝绱 鞦秋 鞽鞒 韁缰 韃鞑 韆千 韉鞯 韋韦 韌韧 韍韨 韓韩 韙韪 韜韬 韝鞲 "
    "韞韫 韻韵 響响 頁页 頂顶 頃顷 項项 順顺 頇顸 須须 頊顼 頌颂 頎颀 頏颃 預预 頑顽 頒颁 頓顿 頗颇 領领 "
    "頜颌 頡颉 頤颐 頦颏 頭头 頮颒 頰颊 頲颋 頴颕 頷颔 頸颈 頹颓 頻频 頽颓 顆颗 題题 額额 顎颚 顏颜 顒颙 "
    "顓颛 顔颜 願愿 顙颡 顛颠 類类 顢颟 顥颢 顧顾 顫颤 顬颥 顯显 顰颦 顱颅 顳颞 顴颧 風风 颭飐 颮飑 颯飒 "
    "颱台 颳刮 颶飓 颸飔 颺飏 颻飖 颼飕 飀飗 飄飘 飆飙 飈飚 飛飞 飠饣 飢饥 飣饤 飥饦 飩饨 飪饪 飫饫 飭饬 "
    "飯饭 飱飧 飲饮 飴饴 飼饲 飽饱 飾饰 飿饳 餃饺 餄饸 餅饼 餈糍 餉饷 養养 餌饵 餎饹 餏饻 餑饽 餒馁 餓饿 "
    "餕馂 餖饾 餘余 餚肴 餛馄 餜馃 餞饯 餡馅 館馆 餬糊 餱糇 餳饧 餵喂 餶馉 餷馇 餺馎 餼饩 餾馏 餿馊 饁馌 "
    "饃馍 饅馒 饈馐 饉馑 饊馓 饋馈 饌馔 饑饥 饒饶 饗飨 饜餍 饞馋 饢馕 馬马 馭驭 馮冯 馱驮 馳驰 馴驯 馹驲 "
    "駁驳 駐驻 駑驽 駒驹 駔驵 駕驾 駘骀 駙驸 駛驶 駝驼 駟驷 駡骂 駢骈 駭骇 駰骃 駱骆 駸骎 駿骏 騁骋 騂骍 "
    "騅骓 騌骔 騍骒 騎骑 騏骐 騖骛 騙骗 騤骙 騧䯄 騫骞 騭骘 騮骝 騰腾 騶驺 騷骚 騸骟 騾骡 驀蓦 驁骜 驂骖 "
    "驃骠 驄骢 驅驱 驊骅 驌骕 驍骁 驏骣 驕骄 驗验 驚惊 驛驿 驟骤 驢驴 驤骧 驥骥 驦骦 驪骊 驫骉 骯肮 髏髅 "
    "髒脏 體体 髕髌 髖髋 髮发 鬆松 鬍胡 鬚须 鬢鬓 鬥斗 鬧闹 鬨哄 鬩阋 鬮阄 鬱郁 鬹鬶 魎魉 魘魇 魚鱼 魛鱽 "
    "魢鱾 魨鲀 魯鲁 魴鲂 魷鱿 魺鲄 鮁鲅 鮃鲆 鮊鲌 鮋鲉 鮍鲏 鮎鲇 鮐鲐 鮑鲍 鮒鲋 鮓鲊 鮚鲒 鮜鲘 鮝鲞 鮞鲕 "
    "鮣䲟 鮦鲖 鮪鲔 鮫鲛 鮭鲑 鮮鲜 鮳鲓 鮶鲪 鮺鲝 鯀鲧 鯁鲠 鯇鲩 鯉鲤 鯊鲨 鯒鲬 鯔鲻 鯕鲯 鯖鲭 鯗鲞 鯛鲷 "
    "鯝鲴 鯡鲱 鯢鲵 鯤鲲 鯧鲳 鯨鲸 鯪鲮 鯫鲰 鯰鲶 鯴鲺 鯷鳀 鯽鲫 鯿鳊 鰁鳈 鰂鲗 鰃鳂 鰆䲠 鰈鲽 鰉鳇 鰌䲡 "
    "鰍鳅 鰏鲾 鰐鳄 鰒鳆 鰓鳃 鰛鳁 鰜鳒 鰟鳑 鰠鳋 鰣鲥 鰥鳏 鰧䲢 鰨鳎 鰩鳐 鰭鳍 鰮鳁 鰱鲢 鰲鳌 鰳鳓 鰵鳘 "
    "鰷鲦 鰹鲣 鰺鲹 鰻鳗 鰼鳛 鰾鳔 鱂鳉 鱅鳙 鱈鳕 鱉鳖 鱒鳟 鱔鳝 鱖鳜 鱗鳞 鱘鲟 鱝鲼 鱟鲎 鱠鲙 鱣鳣 鱤鳡 "
    "鱧鳢 鱨鲿 鱭鲚 鱯鳠 鱷鳄 鱸鲈 鱺鲡 鳥鸟 鳧凫 鳩鸠 鳬凫 鳲鸤 鳳凤 鳴鸣 鳶鸢 鳾䴓 鴆鸩 鴇鸨 鴉鸦 鴒鸰 "
    "鴕鸵 鴛鸳 鴝鸲 鴞鸮 鴟鸱 鴣鸪 鴦鸯 鴨鸭 鴯鸸 鴰鸹 鴴鸻 鴷䴕 鴻鸿 鴿鸽 鵁䴔 鵂鸺 鵃鸼 鵐鹀 鵑鹃 鵒鹆 "
    "鵓鹁 鵜鹈 鵝鹅 鵠鹄 鵡鹉 鵪鹌 鵬鹏 鵮鹐 鵯鹎 鵰雕 鵲鹊 鵷鹓 鵾鹍 鶄䴖 鶇鸫 鶉鹑 鶊鹒 鶓鹋 鶖鹙 鶘鹕 "
    "鶚鹗 鶡鹖 鶥鹛 鶩鹜 鶪䴗 鶬鸧 鶯莺 鶲鹟 鶴鹤 鶹鹠 鶺鹡 鶻鹘 鶼鹣 鶿鹚 鷀鹚 鷁鹢 鷂鹞 鷄鸡 鷉䴘 鷊鹝 "
    "鷓鹧 鷖鹥 鷗鸥 鷙鸷 鷚鹨 鷥鸶 鷦鹪 鷫鹔 鷯鹩 鷲鹫 鷳鹇 鷴鹇 鷸鹬 鷹鹰 鷺鹭 鷽鸴 鸂㶉 鸇鹯 鸊䴙 鸌鹱 "
    "鸏鹲 鸕鸬 鸘鹴 鸚鹦 鸛鹳 鸝鹂 鸞鸾 鹵卤 鹹咸 鹺鹾 鹼碱 鹽盐 麗丽 麥麦 麩麸 麪面 麫面 麯曲 麴曲 麵面 "
    "麼么 麽么 黃黄 黌黉 點点 黨党 黲黪 黴霉 黶黡 黷黩 黽黾 黿鼋 鼂鼌 鼉鼍 鼕冬 鼴鼹 齊齐 齋斋 齎赍 齏齑 "
    "齒齿 齔龀 齕龁 齗龂 齙龅 齜龇 齟龃 齠龆 齡龄 齣出 齦龈 齧啮 齪龊 齬龉 齲龋 齶腭 齷龌 龍龙 龎厐 龐庞 "
    "龑䶮 龔龚 龕龛 龜龟 鿁䜤 鿓鿒"
)
T2S_PAIRS = _T2S_TEXT.split()

TRADITIONAL = "".join(pair[0] for pair in T2S_PAIRS)
# A JSON object: PL/pgSQL parses it once per session into a constant, then looks a character up
# in it by binary search. translate() would be simpler, but it scans its whole list of characters
# for each character of the text: 20 times slower with 3,000 of them.
_T2S_JSON = "{" + ",".join(f'"{pair[0]}":"{pair[1]}"' for pair in T2S_PAIRS) + "}"

# Hiragana and katakana, CJK Unified Ideographs (extension A and the main block), compatibility
# ideographs, as in 0004 and recommendations.selectors.search.
CJK_RUN = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"

# The fold, in PL/pgSQL: `source` with its traditional characters as simplified ones. Written out
# in both functions below, not called from catalog_search_terms: pg_restore computes the stored
# documents with an empty search_path, where a function of the public schema named without its
# schema is not found.
_FOLD = f"""
  -- Traditional characters as simplified ones, as search folds a query (catalog/chinese.py).
  -- Most text holds none: one scan says so.
  IF source ~ '[{TRADITIONAL}]' THEN
    characters := string_to_array(source, NULL);
    FOR position IN 1 .. array_length(characters, 1) LOOP
      simplified := '{_T2S_JSON}'::jsonb ->> characters[position];
      IF simplified IS NOT NULL THEN
        characters[position] := simplified;
      END IF;
    END LOOP;
    source := array_to_string(characters, '');
  END IF;"""
_FOLD_VARIABLES = """
  characters text[];
  simplified text;"""

# The fold alone, for tests and for whoever reads the documents by hand.
SIMPLIFIED_FUNCTION = f"""
CREATE OR REPLACE FUNCTION catalog_search_simplified(source text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE{_FOLD_VARIABLES}
BEGIN{_FOLD}
  RETURN source;
END
$$
"""


def _search_terms_function(variables: str, fold: str) -> str:
    """0004's catalog_search_terms, with `fold` run on a text that holds Chinese or Japanese."""
    return rf"""
CREATE OR REPLACE FUNCTION catalog_search_terms(source text, with_pairs boolean DEFAULT true) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  run text;
  grams text[] := '{{}}';{variables}
BEGIN
  -- Full-width letters and digits, half-width katakana, as input methods type them: one spelling.
  source := normalize(coalesce(source, ''), NFKC);
  IF source !~ '{CJK_RUN}' THEN
    RETURN source;
  END IF;{fold}
  IF with_pairs THEN
    FOR run IN SELECT matched[1] FROM regexp_matches(source, '{CJK_RUN}', 'g') AS matched LOOP
      FOR position IN 1 .. char_length(run) - 1 LOOP
        grams := grams || substr(run, position, 2);
      END LOOP;
      FOR position IN 1 .. char_length(run) LOOP
        grams := grams || substr(run, position, 1);
      END LOOP;
    END LOOP;
  END IF;
  RETURN regexp_replace(source, '({CJK_RUN})', ' \1 ', 'g') || ' ' || array_to_string(grams, ' ');
END
$$
"""


FORWARD_FUNCTIONS = [SIMPLIFIED_FUNCTION, _search_terms_function(_FOLD_VARIABLES, _FOLD)]
REVERSE_FUNCTIONS = [_search_terms_function("", "")]
REVERSE_DROP = ["DROP FUNCTION IF EXISTS catalog_search_simplified(text)"]

ROWS_PER_BATCH = 2000

# The rows whose document folding changes: those holding a traditional character once normalised
# as the document normalises them. Folding back (reverse) changes the same rows.
REFOLD_BATCH = f"""
UPDATE catalog_product SET title = title WHERE id IN (
    SELECT id FROM catalog_product
    WHERE id > %s
      AND normalize(
            coalesce(title, '') || ' ' || coalesce(brand, '') || ' ' || coalesce(category, '')
            || ' ' || coalesce(description, ''),
            NFKC
          ) ~ '[{TRADITIONAL}]'
    ORDER BY id
    LIMIT %s
)
RETURNING id
"""


def refold(connection, batch: int = ROWS_PER_BATCH) -> int:
    """Compute again the stored documents of the rows with traditional text, `batch` rows a
    statement (each its own transaction outside an atomic block); the number of rows."""
    refolded, after = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(REFOLD_BATCH, [after, batch])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return refolded
            refolded += len(ids)
            after = max(ids)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in FORWARD_FUNCTIONS:
        schema_editor.execute(statement)
    refold(schema_editor.connection)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in REVERSE_FUNCTIONS:
        schema_editor.execute(statement)
    refold(schema_editor.connection)
    for statement in REVERSE_DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    # Each batch of refolded rows commits on its own (see above).
    atomic = False

    dependencies = [
        ("catalog", "0005_product_imports_run_by_a_worker"),
    ]

    operations = [
        migrations.RunPython(forward, reverse, elidable=False),
    ]
